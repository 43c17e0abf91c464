// The batch glue of a sluice plugin in JavaScript: what `sluice-guest` is for Rust plugins.
//
// The host hands a batch over as a few flat lists (see `change-batch` and `row-values` in
// wit/plugin.wit): each table shape once per plugin instance, then per change its table's id, its
// operation and where its carried values start. This module remembers the tables, walks a batch as
// `Change` objects, decodes a value only when the plugin reads it, and turns the plugin's verdicts into
// the answer the host expects, sending each set of column edits once. A plugin module writes:
//
//     export const filter = { filter: (batch) => sluice.filter(batch, decide) };
//
// where `decide(change)` returns `KEEP`, `DROP` or a `masked([...edits])` it built once.

export const KEEP = { tag: 'keep' };
export const DROP = { tag: 'drop' };

const TEXT_DECODER = new TextDecoder();

/** A verdict: keep the change with these column edits. Build it once (per table, say) and return the
 * same object for every change it fits; each one is sent once per batch. */
export function masked(edits) {
  return { tag: 'masked', edits };
}

/** The table shapes the host has shown this instance, by id. */
const tables = new Map();
/** What `tableState` built, by table id, with the table it was built for. */
const states = new Map();

/** `build(table)`, computed once per table shape and kept until the host replaces the shape. */
export function tableState(table, build) {
  const known = states.get(table.id);
  if (known !== undefined && known.table === table) {
    return known.state;
  }
  const state = build(table);
  states.set(table.id, { table, state });
  return state;
}

/** Where the value of the column `name` sits among a row's carried values, or -1. */
export function carriedPosition(table, name) {
  return table.carried.findIndex((column) => table.columns[column].name === name);
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

/** One row change of a batch: its `table`, its `operation`, and its carried values, read by their
 * position in the table's `carried` order (see `carriedPosition`). */
export class Change {
  constructor(table, operation, values, first) {
    this.table = table;
    this.operation = operation;
    this.values = values;
    // Where each image's values start in the batch's offsets; -1 for an absent image.
    this.beforeStart = operation === 'insert' ? -1 : first;
    this.afterStart = operation === 'delete' ? -1 : operation === 'insert' ? first : first + table.carried.length;
  }

  value(start, position) {
    if (start < 0 || position < 0 || position >= this.table.carried.length) {
      return undefined;
    }
    return decode(this.values.data, this.values.offsets[start + position]);
  }

  /** The carried value at `position` before the change; undefined for an insert. */
  before(position) {
    return this.value(this.beforeStart, position);
  }

  /** The carried value at `position` after the change; undefined for a delete. */
  after(position) {
    return this.value(this.afterStart, position);
  }

  /** Whether the carried value at `position` is other than NULL before or after the change; reads only
   * the values' kinds. */
  holdsValue(position) {
    if (position < 0 || position >= this.table.carried.length) {
      return false;
    }
    const { data, offsets } = this.values;
    return (
      (this.beforeStart >= 0 && data[offsets[this.beforeStart + position]] !== 0) ||
      (this.afterStart >= 0 && data[offsets[this.afterStart + position]] !== 0)
    );
  }
}

/** Calls `visit(change)` for the batch's changes, in order, after remembering the tables it shows for
 * the first time. */
export function forEachChange(batch, visit) {
  for (const table of batch.newTables) {
    tables.set(table.id, table);
  }
  const { values, operations } = batch;
  const ids = batch.tables;
  for (let index = 0; index < ids.length; index++) {
    const table = tables.get(ids[index]);
    if (table === undefined) {
      throw failure(`change ${index} of the batch refers to table ${ids[index]}, which the host never showed this instance`);
    }
    visit(new Change(table, operations[index], values, values.firsts[index]));
  }
}

/** The filter's answer: `decide(change)` (`KEEP`, `DROP` or a `masked(...)`) for every change. */
export function filter(batch, decide) {
  const verdicts = [];
  const edits = [];
  const listed = new Map();
  forEachChange(batch, (change) => {
    let verdict = decide(change);
    if (verdict.tag === 'masked') {
      let wire = listed.get(verdict);
      if (wire === undefined) {
        wire = { tag: 'keep-masked', val: edits.length };
        edits.push(verdict.edits);
        listed.set(verdict, wire);
      }
      verdict = wire;
    }
    verdicts.push(verdict);
  });
  return { verdicts, edits };
}

/** `decide(change)` (a row mapping) for every change. */
export function mapRows(batch, decide) {
  const mappings = [];
  forEachChange(batch, (change) => mappings.push(decide(change)));
  return mappings;
}
