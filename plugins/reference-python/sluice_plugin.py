"""The batch glue of a sluice plugin in Python: what `sluice-guest` is for Rust plugins.

The host hands a batch over as bytes (see `change-batch` in wit/plugin.wit): each table shape once
per plugin instance, then per change three u32 words (its table's id, its operation, where its
carried values start), the values' offsets and the encoded values. Bytes cross the boundary as one
copy, where componentize-py builds a Python object for every element of any other list. This module
remembers the tables, walks a batch as a `Change`, decodes a value only when the plugin reads it, and
turns the plugin's verdicts into the answer the host expects: a u32 word per change, and each set of
column edits once. A plugin module writes:

    class Filter(exports.Filter):
        def filter(self, batch):
            return sluice_plugin.filter(batch, decide, plan_of)

where `plan_of(table)` works out, once per table shape, what `decide` needs of it (where a column is,
which edits mask it, ...), and `decide(change)` reads it as `change.plan` and returns `KEEP`, `DROP`
or a `Masked` it built once.
"""

import struct
from array import array
from typing import Callable, Dict, Iterator, List, Optional

from componentize_py_types import Err
from wit_world.exports.filter import Filtered, MaskedColumn
from wit_world.imports import types

# The verdict words of the answer (`filtered` in wit/plugin.wit); a `Masked` is `2 + n`.
KEEP = 0
DROP = 1
_EDIT_SETS = 2

_OPERATIONS = (types.Operation.INSERT, types.Operation.UPDATE, types.Operation.DELETE)
_CHANGE = struct.Struct("<III")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


class Masked:
    """A verdict: keep the change with these column edits. Build it once (per table, say) and return
    the same object for every change it fits; each one is sent once per batch."""

    __slots__ = ("edits", "_batch", "_word")

    def __init__(self, edits: List[MaskedColumn]):
        self.edits = edits
        # The batch it was last listed in, and its verdict word there.
        self._batch = -1
        self._word = 0


class _Shape:
    """A table shape the host has shown this instance, and the plugin's plan for it."""

    __slots__ = ("table", "plan", "planned")

    def __init__(self, table: types.Table):
        self.table = table
        self.plan = None
        self.planned = False


# The table shapes the host has shown this instance, by id.
_shapes: Dict[int, _Shape] = {}
# Counts batches, so that a `Masked` knows whether it was listed in the current one.
_batches = 0


def carried_position(table: types.Table, name: str) -> int:
    """Where the value of the column `name` sits among a row's carried values, or -1 if rows do not
    carry it."""
    for position, column in enumerate(table.carried):
        if table.columns[column].name == name:
            return position
    return -1


def _decode(data: bytes, at: int) -> types.ColumnValue:
    kind = data[at]
    at += 1
    if kind == 0:
        return types.ColumnValue_Null()
    if kind == 1:
        return types.ColumnValue_Int(_I64.unpack_from(data, at)[0])
    if kind == 2:
        return types.ColumnValue_Uint(_U64.unpack_from(data, at)[0])
    if kind == 3:
        return types.ColumnValue_Float(_F64.unpack_from(data, at)[0])
    if kind == 10:
        return types.ColumnValue_TimestampMicros(_I64.unpack_from(data, at)[0])
    if kind in (4, 5, 6, 11):
        length = _U32.unpack_from(data, at)[0]
        run = bytes(data[at + 4 : at + 4 + length])
        if kind == 6:
            return types.ColumnValue_Bytes(run)
        text = run.decode("utf-8")
        if kind == 4:
            return types.ColumnValue_Decimal(text)
        if kind == 5:
            return types.ColumnValue_Text(text)
        return types.ColumnValue_Json(text)
    if kind == 7:
        return types.ColumnValue_Date(types.Date(_U16.unpack_from(data, at)[0], data[at + 2], data[at + 3]))
    if kind == 8:
        return types.ColumnValue_Time(
            types.Time(data[at] == 1, _U32.unpack_from(data, at + 1)[0], data[at + 5], data[at + 6],
                       _U32.unpack_from(data, at + 7)[0])
        )
    if kind == 9:
        date = types.Date(_U16.unpack_from(data, at)[0], data[at + 2], data[at + 3])
        return types.ColumnValue_Datetime(
            types.Datetime(date, data[at + 4], data[at + 5], data[at + 6], _U32.unpack_from(data, at + 7)[0])
        )
    raise Err(types.PluginError_Other(f"the batch holds a value of unknown kind {kind}"))


class Change:
    """One row change of a batch: its `table`, its `operation`, the `plan` the plugin made for its
    table, and its carried values, read by their position in the table's `carried` order (see
    `carried_position`).

    The glue hands every change of a batch over in the same object, so it is valid only during the
    call it is passed to: keep what it holds, not the change."""

    __slots__ = ("table", "operation", "plan", "_kind", "_first", "_data", "_offsets")

    def __init__(self, data: bytes, offsets: memoryview):
        self.table: Optional[types.Table] = None
        self.operation: Optional[types.Operation] = None
        self.plan = None
        # The operation's word (0 insert, 1 update, 2 delete), and where its values start in `_offsets`.
        self._kind = 0
        self._first = 0
        self._data = data
        self._offsets = offsets

    def _start(self, after: bool) -> int:
        """Where the image's values start in `_offsets`, or -1 if the change has no such image."""
        kind = self._kind
        if after:
            if kind == 2:
                return -1
            return self._first if kind == 0 else self._first + len(self.table.carried)
        return -1 if kind == 0 else self._first

    def _value(self, after: bool, position: int) -> Optional[types.ColumnValue]:
        start = self._start(after)
        if start < 0 or not 0 <= position < len(self.table.carried):
            return None
        return _decode(self._data, self._offsets[start + position])

    def before(self, position: int) -> Optional[types.ColumnValue]:
        """The carried value at `position` before the change; None for an insert."""
        return self._value(False, position)

    def after(self, position: int) -> Optional[types.ColumnValue]:
        """The carried value at `position` after the change; None for a delete."""
        return self._value(True, position)

    def holds_value(self, position: int) -> bool:
        """Whether the carried value at `position` is other than NULL before or after the change; reads
        only the values' kinds."""
        carried = len(self.table.carried)
        if not 0 <= position < carried:
            return False
        data = self._data
        offsets = self._offsets
        at = self._first + position
        kind = self._kind
        # An insert has only an after image, a delete only a before image, an update both.
        if data[offsets[at]] != 0:
            return True
        return kind == 1 and data[offsets[at + carried]] != 0


def _no_plan(_table: types.Table) -> None:
    return None


def _changes(batch: types.ChangeBatch, plan_of: Optional[Callable[[types.Table], object]]) -> Iterator[Change]:
    """The batch's changes, in order, after remembering the tables it shows for the first time. Every
    change is the same `Change` object, moved on to the next change at each step."""
    shapes = _shapes
    for table in batch.new_tables:
        shapes[table.id] = _Shape(table)
    if len(batch.changes) % 12 or len(batch.offsets) % 4:
        raise Err(types.PluginError_Other(
            f"the batch is malformed: {len(batch.changes)} bytes of changes and {len(batch.offsets)} bytes of offsets"
        ))
    build = plan_of or _no_plan
    change = Change(batch.data, memoryview(batch.offsets).cast("I"))
    operations = _OPERATIONS
    for table_id, kind, first in _CHANGE.iter_unpack(batch.changes):
        shape = shapes.get(table_id)
        if shape is None:
            raise Err(types.PluginError_Other(
                f"a change of the batch refers to table {table_id}, which the host never showed this instance"
            ))
        if not shape.planned:
            shape.plan = build(shape.table)
            shape.planned = True
        change.table = shape.table
        change.plan = shape.plan
        change.operation = operations[kind]
        change._kind = kind
        change._first = first
        yield change


def filter(batch: types.ChangeBatch, decide: Callable[[Change], object],
           plan_of: Optional[Callable[[types.Table], object]] = None) -> Filtered:
    """The filter's answer: `decide(change)` (`KEEP`, `DROP` or a `Masked`) for every change; with
    `plan_of`, each change's `plan` is `plan_of(table)`, worked out once per table shape."""
    global _batches
    _batches += 1
    batch_number = _batches
    words: List[int] = []
    edits: List[List[MaskedColumn]] = []
    append = words.append
    for change in _changes(batch, plan_of):
        verdict = decide(change)
        if verdict.__class__ is Masked:
            if verdict._batch != batch_number:
                verdict._batch = batch_number
                verdict._word = _EDIT_SETS + len(edits)
                edits.append(verdict.edits)
            verdict = verdict._word
        append(verdict)
    return Filtered(array("I", words).tobytes(), edits)


def map_rows(batch: types.ChangeBatch, decide: Callable[[Change], object],
             plan_of: Optional[Callable[[types.Table], object]] = None) -> list:
    """`decide(change)` (a `RowMapping`) for every change."""
    return [decide(change) for change in _changes(batch, plan_of)]
