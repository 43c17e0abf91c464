"""The batch glue of a sluice plugin in Python: what `sluice-guest` is for Rust plugins.

The host hands a batch over as a few flat lists (see `change-batch` and `row-values` in
wit/plugin.wit): each table shape once per plugin instance, then per change its table's id, its
operation and where its carried values start. This module remembers the tables, walks a batch as
`Change` objects, decodes a value only when the plugin reads it, and turns the plugin's verdicts into
the answer the host expects, sending each set of column edits once. A plugin module writes:

    class Filter(exports.Filter):
        def filter(self, batch):
            return sluice_plugin.filter(batch, decide)

where `decide(change)` returns `KEEP`, `DROP` or a `Masked` it built once.
"""

import struct
from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

from componentize_py_types import Err
from wit_world.exports.filter import Filtered, MaskedColumn, Verdict_Drop, Verdict_Keep, Verdict_KeepMasked
from wit_world.imports import types

KEEP = Verdict_Keep()
DROP = Verdict_Drop()

_INSERT = types.Operation.INSERT
_DELETE = types.Operation.DELETE
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


class Masked:
    """A verdict: keep the change with these column edits. Build it once (per table, say) and return
    the same object for every change it fits; each one is sent once per batch."""

    __slots__ = ("edits",)

    def __init__(self, edits: List[MaskedColumn]):
        self.edits = edits


# The table shapes the host has shown this instance, by id.
_tables: Dict[int, types.Table] = {}
# What `table_state` built, by table id, with the table it was built for.
_states: Dict[int, Tuple[types.Table, object]] = {}

State = TypeVar("State")


def table_state(table: types.Table, build: Callable[[types.Table], State]) -> State:
    """`build(table)`, computed once per table shape and kept until the host replaces the shape."""
    known = _states.get(table.id)
    if known is not None and known[0] is table:
        return known[1]
    state = build(table)
    _states[table.id] = (table, state)
    return state


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


class _Values:
    """A batch's carried values, shared by its changes."""

    __slots__ = ("data", "offsets")

    def __init__(self, values: types.RowValues):
        self.data = values.data
        self.offsets = values.offsets


class Change:
    """One row change of a batch: its `table`, its `operation`, and its carried values, read by their
    position in the table's `carried` order (see `carried_position`)."""

    __slots__ = ("table", "operation", "_values", "_before", "_after")

    def __init__(self, table: types.Table, operation: types.Operation, values: _Values, first: int):
        self.table = table
        self.operation = operation
        self._values = values
        # Where each image's values start in the batch's offsets; -1 for an absent image.
        self._before = -1 if operation is _INSERT else first
        if operation is _DELETE:
            self._after = -1
        elif operation is _INSERT:
            self._after = first
        else:
            self._after = first + len(table.carried)

    def _value(self, start: int, position: int) -> Optional[types.ColumnValue]:
        if start < 0 or not 0 <= position < len(self.table.carried):
            return None
        return _decode(self._values.data, self._values.offsets[start + position])

    def before(self, position: int) -> Optional[types.ColumnValue]:
        """The carried value at `position` before the change; None for an insert."""
        return self._value(self._before, position)

    def after(self, position: int) -> Optional[types.ColumnValue]:
        """The carried value at `position` after the change; None for a delete."""
        return self._value(self._after, position)

    def holds_value(self, position: int) -> bool:
        """Whether the carried value at `position` is other than NULL before or after the change; reads
        only the values' kinds."""
        if not 0 <= position < len(self.table.carried):
            return False
        values = self._values
        for start in (self._before, self._after):
            if start >= 0 and values.data[values.offsets[start + position]] != 0:
                return True
        return False


def changes(batch: types.ChangeBatch) -> Iterator[Change]:
    """The batch's changes, in order, after remembering the tables it shows for the first time."""
    for table in batch.new_tables:
        _tables[table.id] = table
    values = _Values(batch.values)
    firsts = batch.values.firsts
    operations = batch.operations
    for index, table_id in enumerate(batch.tables):
        table = _tables.get(table_id)
        if table is None:
            raise Err(types.PluginError_Other(
                f"change {index} of the batch refers to table {table_id}, which the host never showed this instance"
            ))
        yield Change(table, operations[index], values, firsts[index])


def filter(batch: types.ChangeBatch, decide: Callable[[Change], object]) -> Filtered:
    """The filter's answer: `decide(change)` (`KEEP`, `DROP` or a `Masked`) for every change."""
    verdicts: List[object] = []
    edits: List[List[MaskedColumn]] = []
    # By the identity of a `Masked` (kept alive here, so its id is not reused): its verdict.
    listed: Dict[int, Tuple[Masked, Verdict_KeepMasked]] = {}
    append = verdicts.append
    for change in changes(batch):
        verdict = decide(change)
        if type(verdict) is Masked:
            known = listed.get(id(verdict))
            if known is None:
                known = (verdict, Verdict_KeepMasked(len(edits)))
                edits.append(verdict.edits)
                listed[id(verdict)] = known
            verdict = known[1]
        append(verdict)
    return Filtered(verdicts, edits)


def map_rows(batch: types.ChangeBatch, decide: Callable[[Change], object]) -> list:
    """`decide(change)` (a `RowMapping`) for every change."""
    return [decide(change) for change in changes(batch)]
