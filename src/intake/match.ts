/**
 * File-name globs for `pattern` and `ignore`: `*` any run of characters (dots included, so `.*` matches
 * dot files), `?` one character, `[abc]` / `[a-z]` / `[!abc]` a class; everything else literal. The whole
 * name must match; matching is case-sensitive (the file systems we read are).
 */

const cache = new Map<string, RegExp>();

/** Compiles a glob to an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let src = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) { src += '\\['; continue; }
      let body = glob.slice(i + 1, end);
      const neg = body.startsWith('!');
      if (neg) body = body.slice(1);
      src += `[${neg ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => '\\' + m)}]`;
      i = end;
    } else src += c.replace(/[.+^${}()|\\/]/g, (m) => '\\' + m);
  }
  re = new RegExp(src + '$', 's');
  cache.set(glob, re);
  return re;
}

/** True when `name` matches the glob. */
export function globMatch(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}

/** True when `name` matches any of the globs. */
export function matchesAny(globs: readonly string[], name: string): boolean {
  return globs.some((g) => globMatch(g, name));
}
