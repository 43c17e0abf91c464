//! Reading a rows event's row images straight into sluice's values.
//!
//! The driver's iterator (`RowsEventData::rows`) builds, for every row image, a fresh description of
//! every column (its name, schema and table names, flags and charset, each an allocation) from the
//! TABLE_MAP event's optional metadata, which it walks again per row, only to hand it back beside the
//! values; finding a column's metadata is itself a walk over the columns before it. In the backlog
//! drain benchmark that was about a third of the binlog reader's CPU time. [`RowImages`] works out
//! each column's type, metadata and signedness once per event and reads each value with the driver's
//! own value parser, then gives it its meaning with [`decode_value`], as `decode_row` would.
//!
//! The row format (MySQL's `log_event.cc`, `Rows_log_event`): per row, the before image (UPDATE,
//! DELETE) and then the after image (INSERT, UPDATE); each image is a bitmap of NULL flags over the
//! columns present in the image, then the values of the present, non-NULL columns in column order.

use mysql_async::binlog::events::{RowsEventData, TableMapEvent};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::consts::ColumnType;
use mysql_common::io::ParseBuf;

use crate::change::{ColumnValue, TableSchema};
use crate::source::decode::{ValueError, decode_value, image_width_error};

/// What the value parser needs to know of one column.
struct ColumnFormat<'a> {
    column_type: ColumnType,
    metadata: &'a [u8],
    unsigned: bool,
}

/// The row images of one rows event, as `(before, after)` pairs of decoded values.
pub struct RowImages<'a> {
    schema: &'a TableSchema,
    formats: Vec<ColumnFormat<'a>>,
    /// Whether each column is present in the before and the after image; `None` when the event has
    /// no such image.
    before: Option<Vec<bool>>,
    after: Option<Vec<bool>>,
    data: ParseBuf<'a>,
}

/// Why a row could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The event's bytes do not parse as the TABLE_MAP describes them.
    #[error("unreadable row: {0}")]
    Format(String),
    #[error(transparent)]
    Value(#[from] ValueError),
}

impl<'a> RowImages<'a> {
    /// The rows of `event`, whose table `table_map` describes and `schema` gives meaning to.
    pub fn new(
        event: &'a RowsEventData<'a>,
        table_map: &'a TableMapEvent<'a>,
        schema: &'a TableSchema,
    ) -> Result<Self, RowError> {
        let count = event.num_columns() as usize;
        let mut formats = Vec::with_capacity(count);
        for index in 0..count {
            let column_type = match table_map.get_column_type(index) {
                Ok(Some(column_type)) => column_type,
                Ok(None) => return Err(RowError::Format(format!("column {index} has no type in the TABLE_MAP"))),
                Err(error) => return Err(RowError::Format(error.to_string())),
            };
            formats.push(ColumnFormat {
                column_type,
                metadata: table_map.get_column_metadata(index).unwrap_or(&[]),
                unsigned: schema.columns.get(index).is_some_and(|column| column.unsigned),
            });
        }
        let before = event.columns_before_image().map(|bits| {
            (0..count)
                .map(|index| bits.get(index).is_some_and(|bit| *bit))
                .collect()
        });
        let after = event.columns_after_image().map(|bits| {
            (0..count)
                .map(|index| bits.get(index).is_some_and(|bit| *bit))
                .collect()
        });
        Ok(Self {
            schema,
            before,
            after,
            formats,
            data: ParseBuf(event.rows_data()),
        })
    }

    fn image(&mut self, present: &[bool]) -> Result<Vec<ColumnValue>, RowError> {
        let width = present.iter().filter(|&&is_present| is_present).count();
        if width != self.schema.columns.len() {
            return Err(image_width_error(self.schema, width).into());
        }
        let nulls = self
            .data
            .checked_eat(width.div_ceil(8))
            .ok_or_else(|| RowError::Format("the row ends inside its NULL bitmap".into()))?;
        let mut values = Vec::with_capacity(width);
        let columns = self.schema.columns.iter();
        let formats = self.formats.iter().zip(present).filter(|(_, is_present)| **is_present);
        for (image_index, ((format, _), column)) in formats.zip(columns).enumerate() {
            if nulls[image_index / 8] & (1 << (image_index % 8)) != 0 {
                values.push(ColumnValue::Null);
                continue;
            }
            let context = (format.column_type, format.metadata, format.unsigned, false);
            let value: BinlogValue<'_> = self
                .data
                .parse(context)
                .map_err(|error| RowError::Format(format!("column `{}`: {error}", column.name)))?;
            values.push(decode_value(column, value)?);
        }
        Ok(values)
    }
}

type Images = (Option<Vec<ColumnValue>>, Option<Vec<ColumnValue>>);

impl Iterator for RowImages<'_> {
    type Item = Result<Images, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let mut read = || {
            let before = match self.before.take() {
                Some(present) => {
                    let image = self.image(&present);
                    self.before = Some(present);
                    Some(image?)
                }
                None => None,
            };
            let after = match self.after.take() {
                Some(present) => {
                    let image = self.image(&present);
                    self.after = Some(present);
                    Some(image?)
                }
                None => None,
            };
            Ok((before, after))
        };
        let result = read();
        if result.is_err() {
            // Nothing after a row that failed to parse can be found again.
            self.data = ParseBuf(&[]);
        }
        Some(result)
    }
}
