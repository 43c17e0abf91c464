//! [`Plans`]: what a plugin works out once per table shape, kept for the changes of that shape.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::change::Change;
use crate::types::Table;

/// One table shape as an instance was shown it: its id and a number no other shape of the process
/// gets, so that a plan is never taken for a later shape under the same (reused) id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    id: u32,
    serial: u64,
}

impl Shape {
    pub(crate) fn new(id: u32) -> Shape {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Shape {
            id,
            serial: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A plugin's plan for each table shape: built by the plugin's function the first time a change of
/// the shape asks for it, and then shared by every change of that shape, so that per-change code does
/// not look columns up by name. Keep one in the plugin's state:
///
/// ```
/// use std::rc::Rc;
/// use sluice_guest::{Change, Plans, Table, Verdict};
///
/// struct Audit {
///     plans: Plans<Option<u32>>,
/// }
///
/// impl Audit {
///     fn decide(&self, change: &Change<'_>) -> Verdict {
///         let email: Rc<Option<u32>> = self.plans.of(change, |table: &Table| table.column_index("email"));
///         match *email {
///             Some(column) if change.holds_value_at(column) => Verdict::Drop,
///             _ => Verdict::Keep,
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Plans<T> {
    /// By table id: the shape last planned under it, and its plan.
    by_id: RefCell<Vec<Option<Planned<T>>>>,
}

type Planned<T> = (Shape, Rc<T>);

impl<T> Default for Plans<T> {
    fn default() -> Self {
        Plans {
            by_id: RefCell::new(Vec::new()),
        }
    }
}

impl<T> Plans<T> {
    pub fn new() -> Plans<T> {
        Plans::default()
    }

    /// The plan for the table shape of `change`, built with `build` if it is the shape's first.
    pub fn of(&self, change: &Change<'_>, build: impl FnOnce(&Table) -> T) -> Rc<T> {
        let shape = change.shape();
        let index = shape.id as usize;
        if let Some(Some((known, plan))) = self.by_id.borrow().get(index)
            && *known == shape
        {
            return plan.clone();
        }
        // Built outside the borrow, so that `build` may use other plans.
        let plan = Rc::new(build(change.table()));
        let mut by_id = self.by_id.borrow_mut();
        if by_id.len() <= index {
            by_id.resize_with(index + 1, || None);
        }
        by_id[index] = Some((shape, plan.clone()));
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowChange;
    use crate::run::Tables;
    use crate::types::ColumnValue;

    #[test]
    fn a_plan_is_built_once_per_shape_and_anew_for_a_replaced_shape() {
        let plans: Plans<usize> = Plans::new();
        let builds = std::cell::Cell::new(0);
        let build = |table: &Table| {
            builds.set(builds.get() + 1);
            table.columns.len()
        };
        let row = RowChange::insert(0, vec![ColumnValue::Int(1)]);
        let mut tables = Tables::default();
        tables.remember([Table::new("shop", "orders", &[("id", 3)])]);
        let first = Change::from_shown(&tables, 0, &row);
        assert_eq!(*plans.of(&first, build), 1);
        assert_eq!(*plans.of(&Change::from_shown(&tables, 0, &row), build), 1);
        assert_eq!(builds.get(), 1);
        // The host reuses id 0 for another shape.
        tables.remember([Table::new("shop", "items", &[("id", 3), ("name", 15)])]);
        assert_eq!(*plans.of(&Change::from_shown(&tables, 0, &row), build), 2);
        assert_eq!(builds.get(), 2);
    }
}
