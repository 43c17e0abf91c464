// The batch glue of a sluice plugin in JavaScript: what `sluice-guest` is for Rust plugins.
//
// The host hands a batch over as bytes (see `change-batch` in wit/plugin.wit): each table shape once
// per plugin instance, then per change three u32 words (its table's id, its operation, where its
// carried values start), the values' offsets and the encoded values. Bytes cross the boundary as one
// copy, where ComponentizeJS converts every element of a list of enums or variants. This module
// remembers the tables, walks a batch as a `Change`, decodes a value only when the plugin reads it, and
// turns the plugin's verdicts into the answer the host expects: a u32 word per change, and each set of
// column edits once. A plugin module writes:
//
//     export const filter = { filter: (batch) => sluice.filter(batch, decide, planOf) };
//
// where `planOf(table)` works out, once per table shape, what `decide` needs of it (where a column is,
// which edits mask it, ...), and `decide(change)` reads it as `change.plan` and returns `KEEP`, `DROP`
// or a `masked([...edits])` it built once.

// The verdict words of the answer (`filtered` in wit/plugin.wit); a masked verdict is `2 + n`.
export const KEEP = 0;
export const DROP = 1;
const EDIT_SETS = 2;

const OPERATIONS = ['insert', 'update', 'delete'];
const TEXT_DECODER = new TextDecoder();

/** A verdict: keep the change with these column edits. Build it once (per table, say) and return the
 * same object for every change it fits; each one is sent once per batch. */
export function masked(edits) {
  return { edits, batch: -1, word: 0 };
}

/** The table shapes the host has shown this instance, by id: `{ table, plan, planned }`. */
const shapes = new Map();
/** Counts batches, so that a masked verdict knows whether it was listed in the current one. */
let batches = 0;

/** Where the value of the column `name` sits among a row's carried values, or -1. */
export function carriedPosition(table, name) {
  return table.carried.findIndex((column) => table.columns[column].name === name);
}

/** The bytes as u32 words, without a copy where they are aligned. */
function words(bytes) {
  if (bytes.byteOffset % 4 === 0) {
    return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  }
  return new Uint32Array(bytes.slice().buffer);
}

function failure(message) {
  return { tag: 'other', val: message };
}

function decode(data, at) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = data[at];
  at += 1;
  const run = () => data.subarray(at + 4, at + 4 + view.getUint32(at, true));
  const date = () => ({ year: view.getUint16(at, true), month: data[at + 2], day: data[at + 3] });
  switch (kind) {
    case 0: return { tag: 'null' };
    case 1: return { tag: 'int', val: view.getBigInt64(at, true) };
    case 2: return { tag: 'uint', val: view.getBigUint64(at, true) };
    case 3: return { tag: 'float', val: view.getFloat64(at, true) };
    case 4: return { tag: 'decimal', val: TEXT_DECODER.decode(run()) };
    case 5: return { tag: 'text', val: TEXT_DECODER.decode(run()) };
    case 6: return { tag: 'bytes', val: run().slice() };
    case 7: return { tag: 'date', val: date() };
    case 8:
      return {
        tag: 'time',
        val: {
          negative: data[at] === 1,
          hours: view.getUint32(at + 1, true),
          minutes: data[at + 5],
          seconds: data[at + 6],
          microseconds: view.getUint32(at + 7, true),
        },
      };
    case 9:
      return {
        tag: 'datetime',
        val: { date: date(), hour: data[at + 4], minute: data[at + 5], second: data[at + 6], microsecond: view.getUint32(at + 7, true) },
      };
    case 10: return { tag: 'timestamp-micros', val: view.getBigInt64(at, true) };
    case 11: return { tag: 'json', val: TEXT_DECODER.decode(run()) };
    default: throw failure(`the batch holds a value of unknown kind ${kind}`);
  }
}

/** One row change of a batch: its `table`, its `operation`, the `plan` the plugin made for its table,
 * and its carried values, read by their position in the table's `carried` order (see
 * `carriedPosition`).
 *
 * The glue hands every change of a batch over in the same object, so it is valid only during the call
 * it is passed to: keep what it holds, not the change. */
export class Change {
  constructor(data, offsets) {
    this.table = null;
    this.operation = null;
    this.plan = null;
    // The operation's word (0 insert, 1 update, 2 delete), and where its values start in `offsets`.
    this.kind = 0;
    this.first = 0;
    this.data = data;
    this.offsets = offsets;
  }

  /** Where the image's values start in `offsets`, or -1 if the change has no such image. */
  start(after) {
    if (after) {
      return this.kind === 2 ? -1 : this.kind === 0 ? this.first : this.first + this.table.carried.length;
    }
    return this.kind === 0 ? -1 : this.first;
  }

  value(after, position) {
    const start = this.start(after);
    if (start < 0 || position < 0 || position >= this.table.carried.length) {
      return undefined;
    }
    return decode(this.data, this.offsets[start + position]);
  }

  /** The carried value at `position` before the change; undefined for an insert. */
  before(position) {
    return this.value(false, position);
  }

  /** The carried value at `position` after the change; undefined for a delete. */
  after(position) {
    return this.value(true, position);
  }

  /** Whether the carried value at `position` is other than NULL before or after the change; reads only
   * the values' kinds. */
  holdsValue(position) {
    const carried = this.table.carried.length;
    if (position < 0 || position >= carried) {
      return false;
    }
    const at = this.first + position;
    // An insert has only an after image, a delete only a before image, an update both.
    return this.data[this.offsets[at]] !== 0 || (this.kind === 1 && this.data[this.offsets[at + carried]] !== 0);
  }
}

/** Calls `visit(change)` for the batch's changes, in order, after remembering the tables it shows for
 * the first time; with `planOf`, each change's `plan` is `planOf(table)`, worked out once per table
 * shape. Every change is the same `Change` object, moved on to the next change at each step. */
export function forEachChange(batch, planOf, visit) {
  for (const table of batch.newTables) {
    shapes.set(table.id, { table, plan: null, planned: false });
  }
  if (batch.changes.byteLength % 12 !== 0 || batch.offsets.byteLength % 4 !== 0) {
    throw failure(
      `the batch is malformed: ${batch.changes.byteLength} bytes of changes and ${batch.offsets.byteLength} bytes of offsets`,
    );
  }
  const entries = words(batch.changes);
  const change = new Change(batch.data, words(batch.offsets));
  for (let at = 0; at < entries.length; at += 3) {
    const shape = shapes.get(entries[at]);
    if (shape === undefined) {
      throw failure(`change ${at / 3} of the batch refers to table ${entries[at]}, which the host never showed this instance`);
    }
    if (!shape.planned) {
      shape.plan = planOf ? planOf(shape.table) : null;
      shape.planned = true;
    }
    const kind = entries[at + 1];
    change.table = shape.table;
    change.plan = shape.plan;
    change.operation = OPERATIONS[kind];
    change.kind = kind;
    change.first = entries[at + 2];
    visit(change);
  }
}

/** The filter's answer: `decide(change)` (`KEEP`, `DROP` or a `masked(...)`) for every change. */
export function filter(batch, decide, planOf) {
  const verdicts = new Uint32Array(batch.changes.byteLength / 12);
  const edits = [];
  const batchNumber = ++batches;
  let index = 0;
  forEachChange(batch, planOf, (change) => {
    const verdict = decide(change);
    if (typeof verdict === 'number') {
      verdicts[index++] = verdict;
      return;
    }
    if (verdict.batch !== batchNumber) {
      verdict.batch = batchNumber;
      verdict.word = EDIT_SETS + edits.length;
      edits.push(verdict.edits);
    }
    verdicts[index++] = verdict.word;
  });
  return { verdicts: new Uint8Array(verdicts.buffer), edits };
}

/** `decide(change)` (a row mapping) for every change. */
export function mapRows(batch, decide, planOf) {
  const mappings = [];
  forEachChange(batch, planOf, (change) => mappings.push(decide(change)));
  return mappings;
}
