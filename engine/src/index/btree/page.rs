//! B+Tree page layouts.
//!
//! Meta page (block 0), kind 3:
//!
//! ```text
//!  0   24 common page header (page.rs); kind = 3
//! 24    4 root block
//! 28    2 root level (0: the root is a leaf)
//! 30    4 free-list head (u32::MAX: empty)
//! 34    8 splits so far
//! 42    8 merges so far
//! ```
//!
//! Node page, kind 2:
//!
//! ```text
//!  0   24 common header; kind = 2, bytes 14..16 item count, 16..18 level
//!         (0 = leaf), 20..24 right sibling (u32::MAX: none)
//! 24  ... items, packed in key order:
//!         u16 key length (0xFFFF: minus infinity, first item of an inner node)
//!         key bytes, u32 tid.page, u16 tid.slot
//!         inner nodes only: u32 child block
//! ...     free space
//! end     item offsets, growing down from the end of the page: item i's
//!         offset (u16) is at byte 8192 - 2 * (i + 1), so readers binary
//!         search a node in place
//! ```
//!
//! Items are ordered by (key, tid), so every entry is unique even when keys
//! repeat. In an inner node, child i holds the entries >= item i's (key, tid)
//! and < item i+1's. A freed page keeps kind 2 with level 0xFFFF and its
//! right-sibling field links the free list.

use crate::heap::TupleId;
use crate::page::{page_kind, PAGE_HEADER_SIZE, PAGE_SIZE};

pub const KIND_NODE: u16 = 2;
pub const KIND_META: u16 = 3;
pub const NO_BLOCK: u32 = u32::MAX;
pub const FREED_LEVEL: u16 = u16::MAX;
const MINUS_INF: u16 = u16::MAX;

/// (key, tid) ordering key of an item; `None` key = minus infinity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ItemKey {
    pub key: Vec<u8>,
    pub tid: TupleId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// None only for the first item of an inner node.
    pub key: Option<ItemKey>,
    pub child: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub level: u16,
    pub right: u32,
    pub items: Vec<Item>,
}

impl Item {
    pub fn size(&self, inner: bool) -> usize {
        // key length, key, tid, child (inner nodes), offset slot
        2 + self.key.as_ref().map_or(0, |k| k.key.len()) + 6 + if inner { 4 } else { 0 } + 2
    }
}

impl Node {
    pub fn new_leaf() -> Node {
        Node {
            level: 0,
            right: NO_BLOCK,
            items: Vec::new(),
        }
    }
    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }
    pub fn byte_size(&self) -> usize {
        let inner = !self.is_leaf();
        PAGE_HEADER_SIZE + self.items.iter().map(|i| i.size(inner)).sum::<usize>()
    }
    pub fn fits(&self) -> bool {
        self.byte_size() <= PAGE_SIZE
    }

    pub fn decode(b: &[u8]) -> Option<Node> {
        if page_kind(b) != KIND_NODE {
            return None;
        }
        let n = u16::from_le_bytes([b[14], b[15]]) as usize;
        let level = u16::from_le_bytes([b[16], b[17]]);
        let right = u32::from_le_bytes(b[20..24].try_into().ok()?);
        let inner = level != 0;
        let mut items = Vec::with_capacity(n);
        let mut p = PAGE_HEADER_SIZE;
        for _ in 0..n {
            let klen = u16::from_le_bytes([*b.get(p)?, *b.get(p + 1)?]);
            p += 2;
            let key = if klen == MINUS_INF {
                p += 6;
                None
            } else {
                let k = b.get(p..p + klen as usize)?.to_vec();
                p += klen as usize;
                let page = u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?);
                let slot = u16::from_le_bytes(b.get(p + 4..p + 6)?.try_into().ok()?);
                p += 6;
                Some(ItemKey {
                    key: k,
                    tid: TupleId { page, slot },
                })
            };
            let child = if inner {
                let c = u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?);
                p += 4;
                c
            } else {
                0
            };
            items.push(Item { key, child });
        }
        Some(Node {
            level,
            right,
            items,
        })
    }

    /// Write the node into a page buffer (keeps the LSN). The node must fit.
    pub fn encode(&self, b: &mut [u8]) {
        let lsn = crate::page::page_lsn(b);
        b.fill(0);
        crate::page::set_page_lsn(b, lsn);
        b[12..14].copy_from_slice(&KIND_NODE.to_le_bytes());
        b[14..16].copy_from_slice(&(self.items.len() as u16).to_le_bytes());
        b[16..18].copy_from_slice(&self.level.to_le_bytes());
        b[20..24].copy_from_slice(&self.right.to_le_bytes());
        let inner = !self.is_leaf();
        let mut p = PAGE_HEADER_SIZE;
        for (i, it) in self.items.iter().enumerate() {
            let slot = PAGE_SIZE - 2 * (i + 1);
            b[slot..slot + 2].copy_from_slice(&(p as u16).to_le_bytes());
            match &it.key {
                None => {
                    b[p..p + 2].copy_from_slice(&MINUS_INF.to_le_bytes());
                    p += 8;
                }
                Some(k) => {
                    b[p..p + 2].copy_from_slice(&(k.key.len() as u16).to_le_bytes());
                    p += 2;
                    b[p..p + k.key.len()].copy_from_slice(&k.key);
                    p += k.key.len();
                    b[p..p + 4].copy_from_slice(&k.tid.page.to_le_bytes());
                    b[p + 4..p + 6].copy_from_slice(&k.tid.slot.to_le_bytes());
                    p += 6;
                }
            }
            if inner {
                b[p..p + 4].copy_from_slice(&it.child.to_le_bytes());
                p += 4;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub root: u32,
    pub root_level: u16,
    pub free_head: u32,
    pub splits: u64,
    pub merges: u64,
}

impl Meta {
    pub fn decode(b: &[u8]) -> Option<Meta> {
        if page_kind(b) != KIND_META {
            return None;
        }
        Some(Meta {
            root: u32::from_le_bytes(b[24..28].try_into().ok()?),
            root_level: u16::from_le_bytes(b[28..30].try_into().ok()?),
            free_head: u32::from_le_bytes(b[30..34].try_into().ok()?),
            splits: u64::from_le_bytes(b[34..42].try_into().ok()?),
            merges: u64::from_le_bytes(b[42..50].try_into().ok()?),
        })
    }
    pub fn encode(&self, b: &mut [u8]) {
        let lsn = crate::page::page_lsn(b);
        b.fill(0);
        crate::page::set_page_lsn(b, lsn);
        b[12..14].copy_from_slice(&KIND_META.to_le_bytes());
        b[24..28].copy_from_slice(&self.root.to_le_bytes());
        b[28..30].copy_from_slice(&self.root_level.to_le_bytes());
        b[30..34].copy_from_slice(&self.free_head.to_le_bytes());
        b[34..42].copy_from_slice(&self.splits.to_le_bytes());
        b[42..50].copy_from_slice(&self.merges.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_round_trip() {
        let n = Node {
            level: 1,
            right: 7,
            items: vec![
                Item {
                    key: None,
                    child: 3,
                },
                Item {
                    key: Some(ItemKey {
                        key: b"abc".to_vec(),
                        tid: TupleId { page: 1, slot: 2 },
                    }),
                    child: 4,
                },
            ],
        };
        let mut b = [0u8; PAGE_SIZE];
        n.encode(&mut b);
        assert_eq!(Node::decode(&b).unwrap(), n);
        assert_eq!(n.byte_size(), PAGE_HEADER_SIZE + 14 + 17);
        let raw = RawNode::new(&b).unwrap();
        assert!(raw.item(0).unwrap().key.is_none());
        assert_eq!(raw.item(1).unwrap().key, Some(&b"abc"[..]));
        assert_eq!(raw.item(1).unwrap().child, 4);
        assert!(raw.item(2).is_none());
    }
}

/// One item of a node page, read in place (no allocation).
#[derive(Clone, Copy, Debug)]
pub struct RawItem<'a> {
    /// None: minus infinity (first item of an inner node).
    pub key: Option<&'a [u8]>,
    pub tid: TupleId,
    pub child: u32,
}

impl RawItem<'_> {
    /// Compare this item's (key, tid) with `target`; minus infinity is less.
    pub fn cmp_target(&self, target: &ItemKey) -> std::cmp::Ordering {
        match self.key {
            None => std::cmp::Ordering::Less,
            Some(k) => k.cmp(target.key.as_slice()).then(self.tid.cmp(&target.tid)),
        }
    }
}

/// Header facts of a node page and an iterator over its items, in place.
pub struct RawNode<'a> {
    pub level: u16,
    pub right: u32,
    pub count: usize,
    b: &'a [u8],
}

impl<'a> RawNode<'a> {
    pub fn new(b: &'a [u8]) -> Option<RawNode<'a>> {
        if page_kind(b) != KIND_NODE {
            return None;
        }
        Some(RawNode {
            count: u16::from_le_bytes([b[14], b[15]]) as usize,
            level: u16::from_le_bytes([b[16], b[17]]),
            right: u32::from_le_bytes(b[20..24].try_into().ok()?),
            b,
        })
    }

    /// Item `i`, through the offset array; None if out of range or malformed.
    pub fn item(&self, i: usize) -> Option<RawItem<'a>> {
        if i >= self.count {
            return None;
        }
        let slot = PAGE_SIZE.checked_sub(2 * (i + 1))?;
        let off = u16::from_le_bytes([*self.b.get(slot)?, *self.b.get(slot + 1)?]) as usize;
        if off < PAGE_HEADER_SIZE || off >= slot {
            return None;
        }
        read_item(self.b, off, self.level != 0).map(|(it, _)| it)
    }

    /// The number of leading items for which `pred` holds (`pred` must hold
    /// for a prefix of the items: a binary search). A malformed item counts
    /// as not satisfying `pred`.
    pub fn partition_point(&self, mut pred: impl FnMut(&RawItem<'a>) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.item(mid) {
                Some(it) if pred(&it) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// The items in order; stops early (returning fewer) on a malformed page.
    pub fn items(&self) -> RawItems<'a> {
        RawItems {
            b: self.b,
            pos: PAGE_HEADER_SIZE,
            left: self.count,
            inner: self.level != 0,
        }
    }
}

pub struct RawItems<'a> {
    b: &'a [u8],
    pos: usize,
    left: usize,
    inner: bool,
}

impl<'a> Iterator for RawItems<'a> {
    type Item = RawItem<'a>;
    fn next(&mut self) -> Option<RawItem<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (item, q) = read_item(self.b, self.pos, self.inner)?;
        self.pos = q;
        Some(item)
    }
}

/// The item at byte `p` and the byte after it.
fn read_item(b: &[u8], p: usize, inner: bool) -> Option<(RawItem<'_>, usize)> {
    let klen = u16::from_le_bytes([*b.get(p)?, *b.get(p + 1)?]);
    let (key, mut q) = if klen == MINUS_INF {
        (None, p + 2)
    } else {
        let end = p + 2 + klen as usize;
        (Some(b.get(p + 2..end)?), end)
    };
    let page = u32::from_le_bytes(b.get(q..q + 4)?.try_into().ok()?);
    let slot = u16::from_le_bytes(b.get(q + 4..q + 6)?.try_into().ok()?);
    q += 6;
    let child = if inner {
        let c = u32::from_le_bytes(b.get(q..q + 4)?.try_into().ok()?);
        q += 4;
        c
    } else {
        0
    };
    Some((
        RawItem {
            key,
            tid: TupleId { page, slot },
            child,
        },
        q,
    ))
}
