/**
 * The consumer scenarios of PAM FR §4.4 (identity creation, qualification, trait update, INS deletion, status
 * change, NIA → NIR, merge) as built-in sequences of ITI-30 messages, each step with its expected outcome: the ACK
 * code and what the store must then hold for the record (docs/evidence.md lists them). `pamdrop scenarios run`
 * (scenario-run.ts) replays them through the import pipeline and checks every step.
 *
 * The identities are fictitious. The NIRs and NIAs are well formed (right key, coherent with the traits) under the
 * production INS OIDs, so the default configuration applies. Identifiers and control ids carry a run tag (from the
 * clock) so that a run on a store that already holds an earlier one (`--store`) does not meet its records.
 */
import { insExpectedKey } from '../pam/ins.js';

const IPP_OID = '1.2.250.1.999999.1';
const NIR_OID = '1.2.250.1.213.1.4.8';
const NIA_OID = '1.2.250.1.213.1.4.9';

/** What must hold after a step. Absent fields are not checked. */
export interface StepExpectation {
  ack: 'AA' | 'AE' | 'AR';
  /** The record checked, by its IPP (CX-1). */
  record: string;
  status?: string | null;
  /** INS rows of the record, NIR first when both (kind and value). */
  ins?: Array<{ kind: 'NIR' | 'NIA'; value: string }>;
  qualified?: boolean;
  active?: boolean;
  /** IPP of the record it was merged into. */
  mergedInto?: string;
  usedName?: string | null;
  /** A value that no history row of the record may hold any more (an INS erased by A47). */
  erasedFromHistory?: string;
}

export interface ScenarioStep {
  /** `01-create-prov`: file name stem and page name. */
  id: string;
  /** PAM FR section the step exercises. */
  section: string;
  title: string;
  /** What the step proves, for the index page. */
  purpose: string;
  message: string;
  expect: StepExpectation;
}

/** A NIR / NIA with its right key, from its first 13 characters. */
export function withKey(body13: string): string {
  return body13 + String(insExpectedKey(`${body13}00`)).padStart(2, '0');
}

const ts = (base: string, minutes: number): string => {
  const d = new Date(Date.UTC(Number(base.slice(0, 4)), Number(base.slice(4, 6)) - 1, Number(base.slice(6, 8)), 8, minutes));
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
};

/** The scenario steps of one run; `tag` (digits, e.g. the run's time) makes identifiers and control ids unique. */
export function scenarioSteps(tag: string): ScenarioStep[] {
  const t = tag.replace(/\D/g, '').padStart(8, '0');
  const day = /^20\d{6}/.test(t) ? t.slice(0, 8) : '20250601';
  const order = (k: number) => String(((Number(t.slice(-6)) + k * 37) % 997) + 1).padStart(3, '0');
  const ipp = (n: number) => `SC${t.slice(-8)}${n}`;
  const cx = (v: string) => `${v}^^^CHEX&${IPP_OID}&ISO^PI`;
  const nirCx = (v: string) => `${v}^^^ASIP-SANTE-INS-NIR&${NIR_OID}&ISO^INS`;
  const niaCx = (v: string) => `${v}^^^ASIP-SANTE-INS-NIA&${NIA_OID}&ISO^INS`;
  let n = 0;
  const msg = (event: string, structure: string, segments: string[]): string => {
    n++;
    const when = ts(day, n);
    return [`MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|${when}||ADT^${event}^${structure}|SC${t.slice(-8)}${String(n).padStart(3, '0')}|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM`,
      `EVN||${when}`, ...segments].map((s) => `${s}\r`).join('');
  };
  // PID-32 is field 32: 20 empty fields after PID-12 … built by position.
  const pid = (ids: string, name: string, birth: string, sex: string, address: string, status: string, extra: Record<number, string> = {}) => {
    const f: string[] = [];
    f[1] = '1'; f[3] = ids; f[5] = name; f[7] = birth; f[8] = sex; f[11] = address; f[32] = status;
    for (const [k, v] of Object.entries(extra)) f[Number(k)] = v;
    return `PID|${Array.from({ length: 32 }, (_, i) => f[i + 1] ?? '').join('|')}`;
  };
  const zfd = (when: string) => `ZFD|||N|N|INSI|${when}|CN|20310101`;

  // Marie: born 1985-03 in Ajaccio (2A004). Her INS is attributed by mistake, deleted (A47), then the right one.
  const marie = ipp(1);
  const marieWrong = withKey(`285032A004${order(1)}`);
  const marieNir = withKey(`285032A004${order(2)}`);
  const marieName = 'CASANOVA^MARIE^MARIE LAETITIA^^Mme^^L';
  const marieAddr = '12 COURS NAPOLEON^^AJACCIO^^20000^FRA^H~^^AJACCIO^^^FRA^BDL^^2A004';
  // Youssef: born 1955-04 in Morocco (99350): an NIA first, his NIR later.
  const youssef = ipp(2);
  const youssefNia = withKey(`1550499350${order(3)}`);
  const youssefNir = withKey(`1550499350${order(5)}`);
  const youssefName = 'BENALI^YOUSSEF^YOUSSEF KARIM^^M.^^L';
  const youssefAddr = '^^CASABLANCA^^^MAR^BDL^^99350';
  // Paul: born 1967-11 in Nantes (44109), with a duplicate record created by mistake, then merged (A40).
  const paul = ipp(3);
  const paulDup = ipp(4);
  const paulNir = withKey(`1671144109${order(7)}`);
  const paulName = 'DURAND^PAUL^PAUL HENRI^^M.^^L';
  const paulAddr = '8 RUE DES LILAS^^PARIS^^75011^FRA^H~^^NANTES^^^FRA^BDL^^44109';

  const steps: Array<Omit<ScenarioStep, 'id'> & { slug: string }> = [
    { slug: 'create-prov', section: '§4.4.1', title: 'Create a provisional identity (A28, PID-32 PROV, no INS)', purpose: 'a new identity is stored provisional, without INS',
      message: msg('A28', 'ADT_A05', [pid(cx(marie), marieName, '19850317', 'F', marieAddr, 'PROV'), 'PV1|1|N']),
      expect: { ack: 'AA', record: marie, status: 'PROV', ins: [], qualified: false } },
    { slug: 'qualify', section: '§4.4.1', title: 'Qualify the identity with its INS (A31, PID-32 VALI, INS-NIR, every strict trait)', purpose: 'the INS is stored and the identity becomes qualified',
      message: msg('A31', 'ADT_A05', [pid(`${cx(marie)}~${nirCx(marieWrong)}`, marieName, '19850317', 'F', marieAddr, 'VALI'), 'PV1|1|N', zfd(ts(day, 2))]),
      expect: { ack: 'AA', record: marie, status: 'VALI', ins: [{ kind: 'NIR', value: marieWrong }], qualified: true } },
    { slug: 'modify-traits', section: '§4.4.2', title: 'Modify traits of a qualified identity (A31: used name, address)', purpose: 'the traits change, the INS and the status stay',
      message: msg('A31', 'ADT_A05', [pid(`${cx(marie)}~${nirCx(marieWrong)}`, `BONAPARTE^MARIE^^^Mme^^D~${marieName}`, '19850317', 'F',
        `4 RUE FESCH^^BASTIA^^20200^FRA^H~^^AJACCIO^^^FRA^BDL^^2A004`, 'VALI', { 16: 'M' }), 'PV1|1|N', zfd(ts(day, 2))]),
      expect: { ack: 'AA', record: marie, status: 'VALI', ins: [{ kind: 'NIR', value: marieWrong }], qualified: true, usedName: 'BONAPARTE' } },
    { slug: 'ins-deletion', section: '§4.4.3', title: 'Delete an INS attributed by mistake (A47, MRG-1 the INS, PID-3 INS "")', purpose: 'the INS is deleted, and erased from the record\'s history',
      message: msg('A47', 'ADT_A30', [pid(`${cx(marie)}~""^^^ASIP-SANTE-INS-NIR&${NIR_OID}&ISO^INS`, `BONAPARTE^MARIE^^^Mme^^D~${marieName}`, '19850317', 'F', '', 'PROV'),
        `MRG|${nirCx(marieWrong)}`]),
      expect: { ack: 'AA', record: marie, status: 'PROV', ins: [], qualified: false, erasedFromHistory: marieWrong } },
    { slug: 'requalify', section: '§4.4.1', title: 'Qualify again with the right INS (A31, VALI)', purpose: 'the right INS is stored, the identity is qualified again',
      message: msg('A31', 'ADT_A05', [pid(`${cx(marie)}~${nirCx(marieNir)}`, `BONAPARTE^MARIE^^^Mme^^D~${marieName}`, '19850317', 'F', marieAddr, 'VALI'), 'PV1|1|N', zfd(ts(day, 5))]),
      expect: { ack: 'AA', record: marie, status: 'VALI', ins: [{ kind: 'NIR', value: marieNir }], qualified: true } },
    { slug: 'downgrade', section: '§4.4.4', title: 'Downgrade the status (A31, PID-32 PROV~DOUT, no INS)', purpose: 'the identity is no longer qualified: its INS is removed (kept in history)',
      message: msg('A31', 'ADT_A05', [pid(cx(marie), `BONAPARTE^MARIE^^^Mme^^D~${marieName}`, '19850317', 'F', marieAddr, 'PROV~DOUT'), 'PV1|1|N']),
      expect: { ack: 'AA', record: marie, status: 'PROV', ins: [], qualified: false } },
    { slug: 'nia', section: '§4.4.1', title: 'Qualify with an INS-NIA (A28, VALI, NIA)', purpose: 'an NIA alone is the INS of a qualified identity',
      message: msg('A28', 'ADT_A05', [pid(`${cx(youssef)}~${niaCx(youssefNia)}`, youssefName, '19550412', 'M', youssefAddr, 'VALI'), 'PV1|1|N', zfd(ts(day, 7))]),
      expect: { ack: 'AA', record: youssef, status: 'VALI', ins: [{ kind: 'NIA', value: youssefNia }], qualified: true } },
    { slug: 'nia-to-nir', section: '§4.4.1', title: 'NIA → NIR (A31, VALI, the NIA and the NIR)', purpose: 'the NIR becomes the INS, the NIA is kept beside it',
      message: msg('A31', 'ADT_A05', [pid(`${cx(youssef)}~${niaCx(youssefNia)}~${nirCx(youssefNir)}`, youssefName, '19550412', 'M', youssefAddr, 'VALI'), 'PV1|1|N', zfd(ts(day, 8))]),
      expect: { ack: 'AA', record: youssef, status: 'VALI', ins: [{ kind: 'NIR', value: youssefNir }, { kind: 'NIA', value: youssefNia }], qualified: true } },
    { slug: 'merge-survivor', section: '§4.4', title: 'Create the record that will survive (A28, VALI, INS)', purpose: 'setup of the merge: a qualified identity',
      message: msg('A28', 'ADT_A05', [pid(`${cx(paul)}~${nirCx(paulNir)}`, paulName, '19671102', 'M', paulAddr, 'VALI'), 'PV1|1|N', zfd(ts(day, 9))]),
      expect: { ack: 'AA', record: paul, status: 'VALI', ins: [{ kind: 'NIR', value: paulNir }], qualified: true, active: true } },
    { slug: 'merge-duplicate', section: '§4.4', title: 'Create a duplicate by mistake (A28, PROV, no INS)', purpose: 'setup of the merge: a provisional duplicate',
      message: msg('A28', 'ADT_A05', [pid(cx(paulDup), 'DURAND^PAUL^^^M.^^L', '19671102', 'M', '', 'PROV'), 'PV1|1|N']),
      expect: { ack: 'AA', record: paulDup, status: 'PROV', ins: [], qualified: false, active: true } },
    { slug: 'merge', section: '§4.4, §2.2', title: 'Merge the duplicate into the qualified record (A40)', purpose: 'the duplicate is retired into the survivor; the survivor keeps its INS',
      message: msg('A40', 'ADT_A39', [pid(`${cx(paul)}~${nirCx(paulNir)}`, paulName, '19671102', 'M', paulAddr, 'VALI'), `MRG|${cx(paulDup)}||||||DURAND^PAUL^^^M.^^L`]),
      expect: { ack: 'AA', record: paulDup, active: false, mergedInto: paul } },
  ];
  return steps.map(({ slug, ...s }, i) => ({ id: `${String(i + 1).padStart(2, '0')}-${slug}`, ...s }));
}
