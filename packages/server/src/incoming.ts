import { IncomingMessage } from 'node:http';

/**
 * How node:http files one header name into `request.headers` (`IncomingMessage#_addHeaderLine`):
 * the object's key (the name lower-cased) and what a repeated field does there.
 */
interface FieldRule {
  /** The key in `request.headers`, as node's own `_addHeaderLine` stored it (internalized). */
  key: string;
  /** 0: a repeat joins with ', '; 2: with '; ' (cookie); 1: an array (set-cookie); 3: a repeat is dropped. */
  flag: 0 | 1 | 2 | 3;
}

type AddHeaderLine = (this: { joinDuplicateHeaders: boolean }, field: string, value: string, dest: object) => void;

const nodeAddHeaderLine = (IncomingMessage.prototype as unknown as { _addHeaderLine?: AddHeaderLine })._addHeaderLine;
const PROBE_THIS = { joinDuplicateHeaders: false };

/**
 * The rule node applies to `name`, learnt from node's own `_addHeaderLine` on a scratch object:
 * the field added twice, 'a' then 'b', and the result read back. No copy of node's table of
 * known fields: whatever this node version does is what it does. Undefined when the result is
 * none of the four behaviours (then the caller uses node's getter).
 */
export function fieldRule(name: string): FieldRule | undefined {
  if (nodeAddHeaderLine === undefined) return undefined;
  // A null prototype: `__proto__` and `constructor` are plain keys here, and their rule is that of
  // any unknown name; the getter below then runs node's statements on node's kind of object.
  const probe: Record<string, unknown> = Object.create(null);
  nodeAddHeaderLine.call(PROBE_THIS, name, 'a', probe);
  nodeAddHeaderLine.call(PROBE_THIS, name, 'b', probe);
  const keys = Object.keys(probe);
  if (keys.length !== 1) return undefined;
  const key = keys[0] as string;
  const value = probe[key];
  if (value === 'a, b') return { key, flag: 0 };
  if (value === 'a; b') return { key, flag: 2 };
  if (value === 'a') return { key, flag: 3 };
  if (key === 'set-cookie' && Array.isArray(value) && value.length === 2) return { key, flag: 1 };
  return undefined;
}

/** Names longer than this are not kept (nor handled here): node's getter files them. */
const KEPT_NAME_LENGTH = 64;
/** Distinct spellings kept; past it the whole map is dropped (a client sending new names each time). */
const KEPT_NAMES = 256;
/** Requests with more raw entries (names and values) than this get node's getter. */
const FAST_ENTRIES = 64;

const rules = new Map<string, FieldRule>();
const BUILT = Symbol('headers built');
const COUNT = Symbol('head entries');
const nodeAddHeaderLines = (IncomingMessage.prototype as unknown as { _addHeaderLines?: unknown })._addHeaderLines;

/** The kept rule of a raw name, learnt on first sight (undefined: node's getter must file it). */
function ruleOf(name: string): FieldRule | undefined {
  let rule = rules.get(name);
  if (rule === undefined) {
    if (name.length > KEPT_NAME_LENGTH) return undefined;
    rule = fieldRule(name);
    if (rule === undefined) return undefined;
    if (rules.size >= KEPT_NAMES) rules.clear();
    rules.set(name, rule);
  }
  return rule;
}

/**
 * The server's request (node:http's `IncomingMessage` option): `request.headers` built from
 * `rawHeaders` with each raw spelling's rule kept, instead of node's getter, which lower-cases and
 * matches every name against its table of known fields on every request (~1.5k instructions a
 * field under callgrind; node:http reads `headers` itself for every HTTP/1.1 request, so every
 * request paid it: issue #15, session 23).
 *
 * Invariant: for every request, `headers` is the object node's getter builds: same prototype,
 * same own keys in the same order, same values. It holds because the loop below is node's
 * `_addHeaderLine` statement for statement, with node's `matchKnownFields(name)` replaced by the
 * rule node's own `_addHeaderLine` showed for that name ({@link fieldRule}), over the same
 * entries: the count node's parser passed to `_addHeaderLines` (its `maxHeaderPairs` cut),
 * captured below. Node's getter answers instead when that count was not captured (a node that
 * no longer calls `_addHeaderLines`), when duplicates are joined (`joinDuplicateHeaders`), past
 * {@link FAST_ENTRIES} entries, and for a name without a kept rule (longer than
 * {@link KEPT_NAME_LENGTH}). Held by test/incoming.test.ts (fast-check against node's getter,
 * and over real sockets).
 */
export class FieldsIncomingMessage extends IncomingMessage {
  /** The headers object once built (by either getter) or set. */
  [BUILT]: IncomingMessage['headers'] | undefined = undefined;
  /** The entries node's parser filed (`_addHeaderLines`' count), -1 until it did. */
  [COUNT] = -1;

  /** node's parser files the head here (and trailers, once complete): the head's count is kept. */
  _addHeaderLines(headers: string[], count: number): void {
    if (!this.complete) this[COUNT] = count;
    (nodeAddHeaderLines as (this: IncomingMessage, headers: string[], count: number) => void).call(
      this,
      headers,
      count,
    );
  }
}

const nodeHeaders = Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'headers');
const nodeGet = nodeHeaders?.get;
const nodeSet = nodeHeaders?.set;
// Installed only over node's accessor pair (node 20-24); otherwise the class adds nothing but the count.
if (nodeGet !== undefined && nodeSet !== undefined && nodeAddHeaderLine !== undefined) {
  Object.defineProperty(FieldsIncomingMessage.prototype, 'headers', {
    configurable: true,
    enumerable: nodeHeaders?.enumerable ?? false,
    get(this: FieldsIncomingMessage): IncomingMessage['headers'] {
      const kept = this[BUILT];
      if (kept !== undefined) return kept;
      const raw = this.rawHeaders;
      const count = this[COUNT];
      const built =
        count === raw.length &&
        count <= FAST_ENTRIES &&
        !(this as { joinDuplicateHeaders?: boolean }).joinDuplicateHeaders
          ? build(raw)
          : undefined;
      if (built === undefined) {
        const fromNode = nodeGet.call(this) as IncomingMessage['headers'];
        this[BUILT] = fromNode;
        return fromNode;
      }
      // node's own slot stays null: node reads it only in its getter (shadowed here) and in
      // `_addHeaderLines` for the head, which has run (the count is set); trailers have their own.
      this[BUILT] = built;
      return built;
    },
    set(this: FieldsIncomingMessage, value: IncomingMessage['headers']) {
      nodeSet.call(this, value);
      this[BUILT] = value;
    },
  });
}

/**
 * The last shape built by the general path: its raw names, in order, the keys they file under
 * and whether each is set-cookie's array, and a private object with those own keys in that order
 * (values blanked). Kept only for a shape whose keys are all distinct and none a name of
 * `Object.prototype` (so `__proto__`, `constructor`... always take the general path).
 */
let shapeNames: string[] = [];
let shapeKeys: string[] = [];
let shapeArrays: boolean[] = [];
let shapeTemplate: Record<string, string | string[] | undefined> | undefined;

/**
 * `request.headers` from the raw entries (undefined: a name without a rule, node's getter files
 * the request). The shape path: when the raw names are, position by position, those of the kept
 * shape (string equality), node's statements would find every key absent (the keys are distinct)
 * and set each in order to its value (set-cookie: `[value]`), creating the own keys in the order of
 * the shape: what a copy of the shape's template with each key overwritten in order is (an object
 * spread keeps the key order, and an own key is overwritten in place). Without a match, the
 * general path: node's `_addHeaderLine` statements with each name's kept rule.
 */
function build(raw: string[]): IncomingMessage['headers'] | undefined {
  const template = shapeTemplate;
  const fields = raw.length >> 1;
  if (template !== undefined && fields === shapeNames.length && (raw.length & 1) === 0) {
    const names = shapeNames;
    let same = true;
    for (let field = 0; field < fields; field++) {
      if (raw[field * 2] !== names[field]) {
        same = false;
        break;
      }
    }
    if (same) {
      const dest = { ...template };
      const keys = shapeKeys;
      const arrays = shapeArrays;
      for (let field = 0; field < fields; field++) {
        const value = raw[field * 2 + 1] as string;
        dest[keys[field] as string] = arrays[field] ? [value] : value;
      }
      return dest as IncomingMessage['headers'];
    }
  }
  const dest = buildGenerally(raw);
  if (dest !== undefined) keepShape(raw, dest);
  return dest;
}

/** Keeps the shape of a request built by the general path, when it is one the shape path may copy. */
function keepShape(raw: string[], dest: IncomingMessage['headers']): void {
  const keys = Object.keys(dest);
  if (keys.length * 2 !== raw.length) return;
  const names: string[] = [];
  const arrays: boolean[] = [];
  const template: Record<string, string | string[] | undefined> = {};
  for (let field = 0; field < keys.length; field++) {
    const key = keys[field] as string;
    const rule = rules.get(raw[field * 2] as string);
    // Each key once, in the order of the names (distinct keys: the n-th key is the n-th name's).
    if (rule === undefined || rule.key !== key || key in Object.prototype) return;
    names.push(raw[field * 2] as string);
    arrays.push(rule.flag === 1);
    template[key] = '';
  }
  shapeNames = names;
  shapeKeys = keys;
  shapeArrays = arrays;
  shapeTemplate = template;
}

/** `request.headers` from the raw entries, node's `_addHeaderLine` statements; undefined for a name without a rule. */
function buildGenerally(raw: string[]): IncomingMessage['headers'] | undefined {
  const dest: Record<string, string | string[] | undefined> = {};
  for (let index = 0; index < raw.length; index += 2) {
    const rule = ruleOf(raw[index] as string);
    if (rule === undefined) return undefined;
    const value = raw[index + 1] as string;
    const field = rule.key;
    const flag = rule.flag;
    if (flag === 0 || flag === 2) {
      if (typeof dest[field] === 'string') dest[field] += (flag === 0 ? ', ' : '; ') + value;
      else dest[field] = value;
    } else if (flag === 1) {
      const cookies = dest['set-cookie'];
      if (cookies !== undefined) (cookies as string[]).push(value);
      else dest['set-cookie'] = [value];
    } else if (dest[field] === undefined) {
      dest[field] = value;
    }
  }
  return dest as IncomingMessage['headers'];
}
