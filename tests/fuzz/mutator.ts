/**
 * Seeded frame generator for the wire fuzzer: valid frames mutated (dropped, retyped, renamed,
 * nested fields, rid games), truncated JSON, duplicate keys, frames just over 64 KiB, deep
 * nesting, pure garbage (text and binary), and valid frames sent at the wrong time.
 *
 * Text frames are always valid UTF-8 (an invalid one makes `ws` close the connection, 1007, which
 * protocol-abuse.test.ts covers separately).
 *
 * Shared by the wire fuzz (WIRE_MIX) and protocol-abuse.test.ts's seeded fuzz (its own mix of the
 * same categories), together with `gatewayVerdict`, the answer a frame must get whatever the
 * session's state.
 */
import { CLIENT_MESSAGE_TYPES, clientMessageSchema, ErrorCode, MAX_FRAME_BYTES } from '@opencall/protocol';

/** mulberry32: small, seeded, good enough for fuzzing. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KNOWN: readonly string[] = CLIENT_MESSAGE_TYPES;

export type Category =
  | 'mutated'
  | 'duplicate-keys'
  | 'truncated'
  | 'binary-garbage'
  | 'text-garbage'
  | 'nested'
  | 'oversized'
  | 'near-limit'
  | 'not-an-object'
  | 'out-of-order';

export interface Generated {
  data: Buffer;
  binary: boolean;
  category: Category;
}

export class Mutator {
  constructor(private readonly rnd: () => number) {}

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.rnd() < p;
  }

  string(maxLen = 12): string {
    const alphabet = ['a', 'b', 'Z', '0', '9', '-', '_', ' ', '"', '\\', '\n', '\u0000', 'é', '中', '😀', '{', '}', '[', ']', ':', ',', '\u2028', '\ufeff'];
    let s = '';
    for (let i = this.int(maxLen + 1); i > 0; i--) s += this.pick(alphabet);
    return s;
  }

  value(depth = 0): unknown {
    switch (this.int(depth > 2 ? 6 : 8)) {
      case 0: return this.pick([0, 1, 2, 3, -1, 1.5, -0.5, 2 ** 31, 2 ** 31 + 1, 2 ** 53, 1e308, -1e308, 24 * 3600 + 1, -0]);
      case 1: return this.string();
      case 2: return this.pick([true, false]);
      case 3: return null;
      case 4: return this.pick(['alice', 'bob', 'mallory', 'ping', 'invite', 'a'.repeat(65), '', ' ', '__proto__', 'constructor']);
      case 5: return this.int(1000);
      case 6: return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default: return Object.fromEntries(Array.from({ length: this.int(3) }, () => [this.string(5), this.value(depth + 1)]));
    }
  }

  nested(inner: unknown, depth: number): unknown {
    let v = inner;
    for (let i = 0; i < depth; i++) v = this.chance(0.5) ? [v] : { a: v };
    return v;
  }

  /** 1-3 structural mutations of a copy of `msg` (sometimes inside nested objects). */
  mutate(msg: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = structuredClone(msg);
    for (let n = 1 + this.int(3); n > 0; n--) {
      const keys = Object.keys(out);
      const key = keys.length > 0 ? this.pick(keys) : 't';
      const target = out[key];
      switch (this.int(10)) {
        case 0: // drop a field
          delete out[key];
          break;
        case 1: // wrong type
        case 2:
          out[key] = this.value();
          break;
        case 3: // an extra field, some claiming an identity
          out[this.pick(['from', 'userID', 'sponsor', 'to', 'admin', 'seq', key + '2', this.string(6)])] = target ?? this.value();
          break;
        case 4: // nest a field
          out[key] = this.nested(target, 1 + this.int(this.chance(0.2) ? 1000 : 5));
          break;
        case 5: // another (maybe unknown) type
          out.t = this.chance(0.7) ? this.pick(KNOWN) : this.pick(['PING', 'ping ', '', 'invited', 'res', 'ended', '__proto__', this.string(8)]);
          break;
        case 6: // mutate inside a nested object
          if (target && typeof target === 'object' && !Array.isArray(target)) out[key] = this.mutate(target as Record<string, unknown>);
          else out[key] = this.value();
          break;
        case 7: // bad string content
          out[key] = this.pick(['has space', 'ünï', 'a'.repeat(65), '', 'bob\n', 'x'.repeat(5000), '../etc', '1e3']);
          break;
        case 8: // numbers at and over the edges
          out[key] = this.pick([0, -1, 2 ** 31, 2 ** 31 + 1, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, 0.1, 1e21]);
          break;
        default: // rid games
          out.rid = this.pick([undefined, -1, 1.5, '1', 2 ** 31 + 1, 0, null, this.int(1000), [1], { rid: 1 }]);
          if (out.rid === undefined) delete out.rid;
      }
    }
    return out;
  }

  /** One frame derived from a template (or from nothing), its category drawn from `mix`. */
  frame(template: Record<string, unknown>, mix: Mix = WIRE_MIX): Generated {
    const r = this.rnd();
    const category = (mix.find(([upTo]) => r < upTo) ?? mix[mix.length - 1]!)[1];
    return this.build(category, template);
  }

  /** One frame of `category`. */
  build(category: Category, template: Record<string, unknown>): Generated {
    const text = (v: unknown): Generated => ({ data: Buffer.from(JSON.stringify(v) ?? 'null'), binary: false, category });
    switch (category) {
      case 'mutated':
        return text(this.mutate(template));
      case 'duplicate-keys': {
        // duplicate keys in the text itself (JSON.parse keeps the last)
        const json = JSON.stringify(this.chance(0.5) ? template : this.mutate(template));
        const dup = `"${this.pick(['t', 'rid', 'inviteID', 'to', 'userID', 'from', 'payload'])}":${JSON.stringify(this.value())},`;
        return { data: Buffer.from(json.replace('{', '{' + dup)), binary: false, category };
      }
      case 'truncated': {
        // truncated JSON (at a code point boundary, so it stays valid UTF-8)
        const chars = Array.from(JSON.stringify(this.chance(0.5) ? template : this.mutate(template)));
        return { data: Buffer.from(chars.slice(0, this.int(chars.length)).join('')), binary: false, category };
      }
      case 'binary-garbage': {
        const bytes = Buffer.alloc(this.int(this.chance(0.1) ? 4096 : 64));
        for (let i = 0; i < bytes.length; i++) bytes[i] = this.int(256);
        // Sometimes a perfectly valid message, sent as a binary frame.
        return { data: this.chance(0.3) ? Buffer.from(JSON.stringify(template)) : bytes, binary: true, category };
      }
      case 'text-garbage':
        return { data: Buffer.from(this.string(this.chance(0.1) ? 2000 : 40)), binary: false, category };
      case 'nested':
        return text(this.nested(this.chance(0.5) ? template : this.value(), 1 + this.int(this.chance(0.3) ? 1000 : 20)));
      case 'oversized':
        // just over the 64 KiB limit (ASCII padding: bytes = characters)
        return { data: padded(template, MAX_FRAME_BYTES + 1 + this.int(this.chance(0.5) ? 16 : 4096)), binary: false, category };
      case 'near-limit':
        // just under the limit: parsed, then refused by the schema (unknown field `pad`)
        return { data: padded(template, MAX_FRAME_BYTES - this.int(64)), binary: false, category };
      case 'not-an-object':
        return text(this.value(3));
      case 'out-of-order':
        return text(template);
    }
  }
}

/** Categories with the upper bound of their share of [0, 1), in increasing order: a frame is of the first whose bound is above a uniform draw. */
export type Mix = readonly (readonly [upTo: number, category: Category])[];

/** The wire fuzz's mix: 30 % valid frames sent at whatever time (its seeded runs are recorded in docs/model-testing.md: keep it). */
export const WIRE_MIX: Mix = [
  [0.3, 'mutated'],
  [0.36, 'duplicate-keys'],
  [0.46, 'truncated'],
  [0.5, 'binary-garbage'],
  [0.55, 'text-garbage'],
  [0.61, 'nested'],
  [0.64, 'oversized'],
  [0.66, 'near-limit'],
  [0.7, 'not-an-object'],
  [1, 'out-of-order'],
];

/** `template` plus a `pad` field making the frame exactly `size` bytes. */
function padded(template: Record<string, unknown>, size: number): Buffer {
  const base = JSON.stringify({ ...template, pad: '' });
  const missing = size - Buffer.byteLength(base);
  return Buffer.from(JSON.stringify({ ...template, pad: 'x'.repeat(Math.max(0, missing)) }));
}

/**
 * What the server's gateway must do with a frame whatever the session's state, computed here
 * independently of its code (size, binary, JSON, object, `t`, schema): refuse it with `code`
 * (answered in a `res` when the frame carries a usable `rid`, else in an `error`), or pass the
 * valid message `msg` of type `t` on to the session.
 */
export type GatewayVerdict = { refused: true; code: number; rid?: number } | { refused: false; t: string; msg: Record<string, any> };

export function gatewayVerdict(data: Buffer, binary: boolean): GatewayVerdict {
  const refused = (code: number, rid?: number): GatewayVerdict => ({ refused: true, code, ...(rid !== undefined && { rid }) });
  if (data.length > MAX_FRAME_BYTES) return refused(ErrorCode.FRAME_TOO_LARGE);
  if (binary) return refused(ErrorCode.MALFORMED_FRAME);
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    return refused(ErrorCode.MALFORMED_FRAME);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return refused(ErrorCode.INVALID_MESSAGE);
  const r = (json as { rid?: unknown }).rid;
  const rid = Number.isInteger(r) && (r as number) >= 0 ? (r as number) : undefined;
  const t = (json as { t?: unknown }).t;
  if (typeof t !== 'string' || !KNOWN.includes(t)) return refused(ErrorCode.UNKNOWN_MESSAGE, rid);
  const parsed = clientMessageSchema.safeParse(json);
  if (!parsed.success) return refused(ErrorCode.INVALID_MESSAGE, rid);
  return { refused: false, t, msg: parsed.data as Record<string, any> };
}
