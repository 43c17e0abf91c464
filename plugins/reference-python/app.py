"""The sluice reference plugin in Python.

The same behaviour as plugins/reference-rust and plugins/reference-js, configured by the same keys
(see README.md). componentize-py builds this module into a component of the `full-plugin` world of
sluice:plugin@0.4.0: each exported interface is a class named after it (`Plugin`, `Filter`,
`Mapping`, `DdlPolicy`), and an error result is `raise Err(PluginError_...)`. The batch glue (tables
shown once, values decoded when read) is `sluice_plugin.py`.

Each table shape is looked at once (does it drop deletes, where is the masked column); each change
then costs a look at its table's plan and, for a masked table, at the kind of one carried value.
"""

import re
from typing import List, Optional, Tuple

import sluice_plugin
from componentize_py_types import Err
from sluice_plugin import DROP, KEEP, Masked
from wit_world import exports
from wit_world.exports import ddl_policy, mapping
from wit_world.exports.filter import ColumnEdit_Replace, Filtered, MaskedColumn
from wit_world.imports import log, types

KNOWN_KEYS = ("drop_deletes_of", "mask_column", "topic_template")
DELETE = types.Operation.DELETE
MASKED_TEXT = "***"
PLACEHOLDER = re.compile(r"(\{database\}|\{table\})")


def invalid_config(message: str) -> Err:
    return Err(types.PluginError_InvalidConfig(message))


def other_error(message: str) -> Err:
    return Err(types.PluginError_Other(message))


class Settings:
    """The validated config."""

    def __init__(self, config: List[Tuple[str, str]]):
        values = {}
        for key, value in config:
            if key not in KNOWN_KEYS:
                raise invalid_config(f"unknown config key `{key}`; known keys: {', '.join(KNOWN_KEYS)}")
            if key in values:
                raise invalid_config(f"config key `{key}` is given more than once")
            if value == "":
                raise invalid_config(f"config key `{key}` is empty")
            values[key] = value
        self.drop_deletes_of: Optional[str] = values.get("drop_deletes_of")
        if self.drop_deletes_of is not None and "." not in self.drop_deletes_of:
            raise invalid_config(f"drop_deletes_of `{self.drop_deletes_of}` is not a `database.table` name")
        self.mask_column: Optional[str] = values.get("mask_column")
        template = values.get("topic_template")
        # `{database}` and `{table}` are the placeholders; everything else is literal.
        self.topic_parts: Optional[List[str]] = None if template is None else PLACEHOLDER.split(template)

    def topic(self, table: types.Table) -> str:
        placeholders = {"{database}": table.database, "{table}": table.name}
        return "".join(placeholders.get(part, part) for part in self.topic_parts)


settings: Optional[Settings] = None


def configured() -> Settings:
    if settings is None:
        raise other_error("the plugin was called before a successful init")
    return settings


class TablePlan:
    """What a table's changes need: whether its deletes are dropped, and where its masked column is."""

    def __init__(self, settings: Settings, table: types.Table):
        self.drops_deletes = settings.drop_deletes_of == f"{table.database}.{table.name}"
        self.mask: Optional[Masked] = None
        self.carried_position = -1
        if settings.mask_column is None:
            return
        for index, column in enumerate(table.columns):
            if column.name == settings.mask_column:
                if index not in table.carried:
                    raise other_error(
                        f"column `{settings.mask_column}` of `{table.database}.{table.name}` was not carried, "
                        "although the interest names it"
                    )
                self.carried_position = table.carried.index(index)
                edit = ColumnEdit_Replace(types.ColumnValue_Text(MASKED_TEXT))
                self.mask = Masked([MaskedColumn(index, edit)])
                return


def plan_of(table: types.Table) -> TablePlan:
    return TablePlan(configured(), table)


def decide(change: sluice_plugin.Change):
    plan = change.plan
    if plan.drops_deletes and change.operation is DELETE:
        return DROP
    # One edit covers both images: mask when either image holds a value (see README.md).
    if plan.mask is not None and change.holds_value(plan.carried_position):
        return plan.mask
    return KEEP


class Plugin(exports.Plugin):
    def init(self, config: List[Tuple[str, str]]) -> types.Interest:
        global settings
        settings = Settings(config)
        log.write(log.Level.DEBUG, "reference-python configured")
        columns = [] if settings.mask_column is None else [settings.mask_column]
        return types.Interest(tables=[], operations=[], columns=columns)


class Filter(exports.Filter):
    def filter(self, batch: types.ChangeBatch) -> Filtered:
        configured()
        return sluice_plugin.filter(batch, decide, plan_of)


class Mapping(exports.Mapping):
    def map_table(self, table: types.Table, previous: mapping.TableMapping) -> mapping.TableMapping:
        current = configured()
        if current.topic_parts is not None:
            previous.topic = current.topic(table)
        return previous

    def map_rows(self, batch: types.ChangeBatch) -> List[mapping.RowMapping]:
        configured()
        return sluice_plugin.map_rows(batch, lambda _change: mapping.RowMapping(topic=None, key=None, partition=None))


class DdlPolicy(exports.DdlPolicy):
    def decide(self, event: ddl_policy.DdlEvent, previous: ddl_policy.DdlDecision) -> ddl_policy.DdlDecision:
        return previous
