/**
 * Seeded generator of realistic PAM FR ITI-30 traffic: A28 creations, A31 updates (new address, usual name,
 * status changes), A40 merges and A47 IPP changes; 2–3 identifiers per patient, a production INS-NIR (valid
 * key, traits coherent with it) on most qualified identities, accented names, 8859/15 or UTF-8, optional
 * FHS/BHS envelope. Same seed and options → same bytes.
 *
 *   node dist/bench/generate.js --messages 100000 --out bench/out/adt_100k.hl7 [--charset utf8|latin9] [--no-envelope] [--seed 42]
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import iconv from 'iconv-lite';

export interface GenerateOptions {
  messages: number;
  seed?: number;
  charset?: 'latin9' | 'utf8';
  envelope?: boolean;
  /** Share of A40/A47 among updates (default 0.1). */
  identityEvents?: number;
}

/** mulberry32: tiny, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILY = ['MARTIN', 'BERNARD', 'DUBOIS', 'THOMAS', 'ROBERT', 'RICHARD', 'PETIT', 'DURAND', 'LEROY', 'MOREAU', 'SIMON', 'LAURENT',
  'LEFEBVRE', 'MICHEL', 'GARCIA', 'DAVID', 'BERTRAND', 'ROUX', 'VINCENT', 'FOURNIER', 'MOREL', 'GIRARD', 'ANDRE', 'MERCIER', 'CASANOVA', 'BENALI'];
const USED = ['LEFÈVRE', 'BŒUF', 'FRANÇOIS', 'GÉRARD', 'NOËL', 'HÉLÈNE', 'CHÂTEAU', 'LAÏ', 'D\'HAŸ', 'MÜLLER'];
const GIVEN_F = ['MARIE', 'CLAIRE', 'SOPHIE', 'JULIE', 'ANNE', 'LAETITIA', 'CAMILLE', 'EMMA', 'LOUISE', 'CHLOE'];
const GIVEN_M = ['PAUL', 'JEAN', 'PIERRE', 'LUCAS', 'HUGO', 'YOUSSEF', 'KARIM', 'LOUIS', 'JULES', 'THOMAS'];
const CITIES: Array<[string, string, string]> = [['PARIS', '75056', '75011'], ['NANTES', '44109', '44000'], ['TOULOUSE', '31555', '31000'],
  ['LYON', '69123', '69001'], ['AJACCIO', '2A004', '20000'], ['BASTIA', '2B033', '20200'], ['LILLE', '59350', '59000'], ['RENNES', '35238', '35000']];

export function nirKey(body13: string): string {
  const b = body13.replace(/^(.{5})2A/, '$119').replace(/^(.{5})2B/, '$118');
  return String(97 - Number(BigInt(b) % 97n)).padStart(2, '0');
}

interface Person { ipp: number; sex: 'M' | 'F'; family: string; given: string; givenNames: string; birth: string; cog: string; city: string; nir: string | null; status: string }

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Yields the file content in chunks (bounded memory for any size). */
export function* generate(opts: GenerateOptions): Generator<string> {
  const r = rng(opts.seed ?? 42);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const cs = opts.charset ?? 'latin9';
  const msh18 = cs === 'utf8' ? 'UNICODE UTF-8' : '8859/15';
  const people: Person[] = [];
  const usedNir = new Set<string>();
  let nextIpp = 100000;
  let ctl = 1;
  const t0 = Date.UTC(2025, 0, 1, 8, 0, 0);
  const ts = (i: number) => {
    const d = new Date(t0 + i * 7000);
    return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}`;
  };
  const ipp = (n: number) => `${n}^^^CHEX&1.2.250.1.999999.1&ISO^PI`;
  const pid = (p: Person, withUsed: boolean) => {
    const ids = [ipp(p.ipp), `E${p.ipp}^^^EPISODE&1.2.250.1.999999.2&ISO^AN`];
    if (p.nir && p.status === 'VALI') ids.push(`${p.nir}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS`);
    const names = [`${p.family}^${p.given}^${p.givenNames}^^${p.sex === 'F' ? 'Mme' : 'M.'}^^L`];
    if (withUsed) names.unshift(`${pick(USED)}^${p.given}^^^${p.sex === 'F' ? 'Mme' : 'M.'}^^D`);
    const addr = `${1 + Math.floor(r() * 120)} RUE DE LA RÉPUBLIQUE^^${p.city}^^${pad(10000 + Math.floor(r() * 80000), 5)}^FRA^H~^^${p.city}^^^FRA^BDL^^${p.cog}`;
    return `PID|1||${ids.join('~')}||${names.join('~')}||${p.birth}|${p.sex}|||${addr}||^PRN^PH^^^^^^^^^06${pad(Math.floor(r() * 1e8), 8)}|||||||||||||||||||${p.status}`;
  };
  const msh = (i: number, ev: string, struct: string) =>
    `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|${ts(i)}||ADT^${ev}^${struct}|G${pad(ctl++, 9)}|P|2.5^FRA^2.11|||||FRA|${msh18}|FR||2.11^IHE_FRANCE-2.11-PAM`;
  const newPerson = (): Person => {
    const sex = r() < 0.5 ? 'F' : 'M';
    const given = pick(sex === 'F' ? GIVEN_F : GIVEN_M);
    const yy = 30 + Math.floor(r() * 70), mm = 1 + Math.floor(r() * 12), dd = 1 + Math.floor(r() * 28);
    const [city, cog] = pick(CITIES);
    const qualified = r() < 0.85;
    // Order number unique per (sex, year, month, birthplace), as the INSEE register makes it.
    const stem = `${sex === 'M' ? 1 : 2}${pad(yy, 2)}${pad(mm, 2)}${cog}`;
    let order = 1 + Math.floor(r() * 998);
    while (usedNir.has(stem + pad(order, 3))) order = (order % 998) + 1;
    const body = stem + pad(order, 3);
    usedNir.add(body);
    return { ipp: nextIpp++, sex, family: pick(FAMILY), given, givenNames: `${given} ${pick(sex === 'F' ? GIVEN_F : GIVEN_M)}`,
      birth: `19${pad(yy, 2)}${pad(mm, 2)}${pad(dd, 2)}`, cog, city, nir: body + nirKey(body), status: qualified ? 'VALI' : 'PROV' };
  };
  const idEvents = opts.identityEvents ?? 0.1;
  let out: string[] = [];
  let size = 0;
  const push = (s: string) => { out.push(s); size += s.length; };
  if (opts.envelope) {
    push(`FHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|${ts(0)}||ADT_BATCH.hl7||F0001\r`);
    push(`BHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|${ts(0)}||||B0001\r`);
  }
  for (let i = 0; i < opts.messages; i++) {
    const roll = r();
    let msg: string;
    if (people.length < 10 || roll < 0.45) {
      const p = newPerson();
      people.push(p);
      msg = `${msh(i, 'A28', 'ADT_A05')}\rEVN||${ts(i)}\r${pid(p, false)}\rPV1|1|N\r`;
    } else if (roll < 1 - idEvents) {
      const p = pick(people);
      if (r() < 0.1) p.status = p.status === 'VALI' ? 'PROV' : 'VALI';
      msg = `${msh(i, 'A31', 'ADT_A05')}\rEVN||${ts(i)}\r${pid(p, r() < 0.5)}\rPV1|1|N\r`;
    } else if (roll < 1 - idEvents / 2) {
      // A47: IPP change of an existing patient.
      const k = Math.floor(r() * people.length);
      const p = people[k]!;
      const old = p.ipp;
      p.ipp = nextIpp++;
      msg = `${msh(i, 'A47', 'ADT_A30')}\rEVN||${ts(i)}\r${pid(p, false)}\rMRG|${ipp(old)}\r`;
    } else {
      // A40: a duplicate record created then merged into an existing survivor (no INS on the duplicate).
      const survivor = pick(people);
      const dupIpp = nextIpp++;
      const dup: Person = { ...survivor, ipp: dupIpp, nir: null, status: 'PROV' };
      push(encode(`${msh(i, 'A28', 'ADT_A05')}\rEVN||${ts(i)}\r${pid(dup, false)}\rPV1|1|N\r`));
      i++;
      if (i >= opts.messages) break;
      msg = `${msh(i, 'A40', 'ADT_A39')}\rEVN||${ts(i)}\r${pid(survivor, false)}\rMRG|${ipp(dupIpp)}\r`;
    }
    push(encode(msg));
    if (size > 1 << 20) { yield out.join(''); out = []; size = 0; }
  }
  if (opts.envelope) {
    push(`BTS|${opts.messages}\r`);
    push('FTS|1\r');
  }
  if (out.length) yield out.join('');

  // Strings are yielded as "binary" strings (one char per byte) so the caller writes them with 'latin1'.
  function encode(s: string): string {
    return (cs === 'utf8' ? Buffer.from(s, 'utf8') : iconv.encode(s, 'iso-8859-15')).toString('latin1');
  }
}

/** Writes a generated file; resolves to its size in bytes. */
export async function generateFile(path: string, opts: GenerateOptions): Promise<number> {
  mkdirSync(dirname(path), { recursive: true });
  const ws = createWriteStream(path);
  let bytes = 0;
  for (const chunk of generate(opts)) {
    bytes += chunk.length;
    if (!ws.write(chunk, 'latin1')) await new Promise<void>((res) => ws.once('drain', () => res()));
  }
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
  return bytes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const get = (k: string) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
  const n = Number(get('--messages') ?? '10000');
  const out = get('--out') ?? `bench/out/adt_${n}.hl7`;
  generateFile(out, { messages: n, seed: Number(get('--seed') ?? '42'), charset: get('--charset') === 'utf8' ? 'utf8' : 'latin9', envelope: !args.includes('--no-envelope') })
    .then((b) => process.stdout.write(`${out}: ${n} messages, ${b} bytes\n`));
}
