//! Heap relations: slotted pages of MVCC tuples.

use crate::error::Result;

/// Physical address of a tuple version: (page number, slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TupleId {
    pub page: u32,
    pub slot: u16,
}

/// Iterator over visible tuples of a relation.
pub struct HeapScan {}

impl Iterator for HeapScan {
    type Item = Result<(TupleId, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
}
