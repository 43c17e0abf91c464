// The sluice reference plugin in JavaScript: the same behaviour as plugins/reference-rust and
// plugins/reference-python, configured by the same keys (see README.md).
//
// The component exports the `full-plugin` world of sluice:plugin@0.4.0. Records arrive as plain
// objects with camelCase fields, variants as `{ tag, val }`, enums as strings; an error result is a
// thrown `{ tag: 'invalid-config' | 'other', val: message }`. The batch glue (tables shown once, values
// decoded when read) is `sluice_plugin.js`.
//
// Each table shape is looked at once (does it drop deletes, where is the masked column); each change
// then costs a look at its table's plan and, for a masked table, at the kind of one carried value.

import { write as log } from 'sluice:plugin/log@0.4.0';
import * as sluice from './sluice_plugin.js';

const KNOWN_KEYS = ['drop_deletes_of', 'mask_column', 'topic_template'];
const { KEEP, DROP } = sluice;
const MASKED_TEXT = '***';

/** The validated config, set by `init`. */
let settings = null;

function invalidConfig(message) {
  return { tag: 'invalid-config', val: message };
}

/** Validates the config pairs; throws an `invalid-config` error naming the key to fix. */
function parseConfig(config) {
  const values = new Map();
  for (const [key, value] of config) {
    if (!KNOWN_KEYS.includes(key)) {
      throw invalidConfig(`unknown config key \`${key}\`; known keys: ${KNOWN_KEYS.join(', ')}`);
    }
    if (values.has(key)) {
      throw invalidConfig(`config key \`${key}\` is given more than once`);
    }
    if (value === '') {
      throw invalidConfig(`config key \`${key}\` is empty`);
    }
    values.set(key, value);
  }
  const dropDeletesOf = values.get('drop_deletes_of') ?? null;
  if (dropDeletesOf !== null && !dropDeletesOf.includes('.')) {
    throw invalidConfig(`drop_deletes_of \`${dropDeletesOf}\` is not a \`database.table\` name`);
  }
  const template = values.get('topic_template');
  return {
    dropDeletesOf,
    maskColumn: values.get('mask_column') ?? null,
    // `{database}` and `{table}` are the placeholders; everything else is literal.
    topicParts: template === undefined ? null : template.split(/(\{database\}|\{table\})/),
  };
}

function renderTopic(parts, table) {
  return parts
    .map((part) => (part === '{database}' ? table.database : part === '{table}' ? table.name : part))
    .join('');
}

/** What a table's changes need: whether its deletes are dropped, and where its masked column is. */
function tablePlan(table) {
  const dropsDeletes = settings.dropDeletesOf === `${table.database}.${table.name}`;
  let maskedColumn = -1;
  let carriedPosition = -1;
  if (settings.maskColumn !== null) {
    maskedColumn = table.columns.findIndex((column) => column.name === settings.maskColumn);
    if (maskedColumn >= 0) {
      carriedPosition = table.carried.indexOf(maskedColumn);
      if (carriedPosition < 0) {
        throw {
          tag: 'other',
          val: `column \`${settings.maskColumn}\` of \`${table.database}.${table.name}\` was not carried, although the interest names it`,
        };
      }
    }
  }
  const mask =
    maskedColumn < 0
      ? null
      : sluice.masked([{ column: maskedColumn, edit: { tag: 'replace', val: { tag: 'text', val: MASKED_TEXT } } }]);
  return { dropsDeletes, carriedPosition, mask };
}

function decide(change) {
  const plan = change.plan;
  if (plan.dropsDeletes && change.operation === 'delete') {
    return DROP;
  }
  // One edit covers both images: mask when either image holds a value (see README.md).
  if (plan.mask !== null && change.holdsValue(plan.carriedPosition)) {
    return plan.mask;
  }
  return KEEP;
}

function requireInit() {
  if (settings === null) {
    throw { tag: 'other', val: 'the plugin was called before a successful init' };
  }
}

export const plugin = {
  init(config) {
    settings = parseConfig(config);
    log('debug', `reference-js configured: ${JSON.stringify(settings)}`);
    return {
      tables: [],
      operations: [],
      columns: settings.maskColumn === null ? [] : [settings.maskColumn],
    };
  },
};

export const filter = {
  filter(batch) {
    requireInit();
    return sluice.filter(batch, decide, tablePlan);
  },
};

export const mapping = {
  mapTable(table, previous) {
    requireInit();
    if (settings.topicParts === null) {
      return previous;
    }
    return { ...previous, topic: renderTopic(settings.topicParts, table) };
  },

  mapRows(batch) {
    requireInit();
    return sluice.mapRows(batch, () => ({ topic: undefined, key: undefined, partition: undefined }));
  },
};

export const ddlPolicy = {
  decide(_event, previous) {
    return previous;
  },
};
