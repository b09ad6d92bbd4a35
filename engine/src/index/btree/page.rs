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
//!         (0 = leaf), 18..20 end of the item area, 20..24 right sibling
//!         (u32::MAX: none)
//! 24  ... items (in key order when the page was last written whole; an
//!         entry added in place goes at the end of the area, one removed in
//!         place leaves a hole until the page is rewritten):
//!         u16 key length (0xFFFF: minus infinity, first item of an inner node)
//!         key bytes, u32 tid.page, u16 tid.slot
//!         inner nodes only: u32 child block
//! ...     free space
//! end     item offsets in key order, growing down from the end of the
//!         page: item i's offset (u16) is at byte 8192 - 2 * (i + 1), so
//!         readers binary search a node in place
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
        let raw = RawNode::new(b)?;
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            let it = raw.item(i)?;
            items.push(Item {
                key: it.key.map(|k| ItemKey {
                    key: k.to_vec(),
                    tid: it.tid,
                }),
                child: it.child,
            });
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
        b[18..20].copy_from_slice(&(p as u16).to_le_bytes());
    }
}

/// Write a leaf item (key length, key, tid) at byte `p`; where it ends.
fn put_leaf_item(b: &mut [u8], mut p: usize, key: &[u8], tid: TupleId) -> usize {
    b[p..p + 2].copy_from_slice(&(key.len() as u16).to_le_bytes());
    p += 2;
    b[p..p + key.len()].copy_from_slice(key);
    p += key.len();
    b[p..p + 4].copy_from_slice(&tid.page.to_le_bytes());
    b[p + 4..p + 6].copy_from_slice(&tid.slot.to_le_bytes());
    p + 6
}

/// A leaf page encoded as entries arrive in order, for bulk builds: the
/// same layout as `Node::encode` of a leaf, without a `Node` in between.
pub struct LeafBuilder {
    buf: Box<[u8; PAGE_SIZE]>,
    count: usize,
    /// End of the item area.
    end: usize,
}

impl Default for LeafBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LeafBuilder {
    pub fn new() -> LeafBuilder {
        LeafBuilder {
            buf: Box::new([0u8; PAGE_SIZE]),
            count: 0,
            end: PAGE_HEADER_SIZE,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Whether one more entry with a key of `key_len` bytes keeps the page
    /// within `limit` bytes (the same sizes as `Item::size`).
    pub fn fits(&self, key_len: usize, limit: usize) -> bool {
        self.end + 2 * self.count + (2 + key_len + 6 + 2) <= limit.min(PAGE_SIZE)
    }
    /// Append an entry (the caller keeps (key, tid) order and checks `fits`).
    pub fn push(&mut self, key: &[u8], tid: TupleId) {
        let b = &mut self.buf[..];
        let slot = PAGE_SIZE - 2 * (self.count + 1);
        b[slot..slot + 2].copy_from_slice(&(self.end as u16).to_le_bytes());
        self.end = put_leaf_item(b, self.end, key, tid);
        self.count += 1;
    }
    /// Write the leaf, with right sibling `right`, into the page buffer `b`
    /// (keeping its LSN).
    pub fn write_into(&mut self, right: u32, b: &mut [u8]) {
        let buf = &mut self.buf[..];
        buf[12..14].copy_from_slice(&KIND_NODE.to_le_bytes());
        buf[14..16].copy_from_slice(&(self.count as u16).to_le_bytes());
        buf[16..18].copy_from_slice(&0u16.to_le_bytes());
        buf[18..20].copy_from_slice(&(self.end as u16).to_le_bytes());
        buf[20..24].copy_from_slice(&right.to_le_bytes());
        let lsn = crate::page::page_lsn(b);
        b.copy_from_slice(buf);
        crate::page::set_page_lsn(b, lsn);
    }
    /// Start an empty leaf.
    pub fn clear(&mut self) {
        // Only the bytes used so far need zeroing: the rest still is.
        let slots = PAGE_SIZE - 2 * self.count;
        self.buf[..self.end].fill(0);
        self.buf[slots..].fill(0);
        self.count = 0;
        self.end = PAGE_HEADER_SIZE;
    }
}

/// Add a leaf entry at position `pos` of the page in place: the item goes
/// at the end of the item area, its offset into the offset array. False if
/// the page is not a leaf or the contiguous free space is too small (the
/// caller then rewrites the node whole, which reclaims holes, or splits it).
pub fn leaf_insert_in_place(b: &mut [u8], pos: usize, key: &[u8], tid: TupleId) -> bool {
    let Some(n) = RawNode::new(b) else {
        return false;
    };
    let (count, end) = (n.count, n.items_end());
    if n.level != 0 || pos > count || key.len() >= MINUS_INF as usize {
        return false;
    }
    let size = 2 + key.len() + 6;
    let slots_start = PAGE_SIZE - 2 * count;
    if end < PAGE_HEADER_SIZE || end + size + 2 > slots_start {
        return false;
    }
    let p = put_leaf_item(b, end, key, tid);
    // Offsets of items pos.. move one slot down (toward lower addresses).
    let at = PAGE_SIZE - 2 * pos;
    b.copy_within(slots_start..at, slots_start - 2);
    b[at - 2..at].copy_from_slice(&(end as u16).to_le_bytes());
    b[14..16].copy_from_slice(&((count + 1) as u16).to_le_bytes());
    b[18..20].copy_from_slice(&(p as u16).to_le_bytes());
    true
}

/// Remove the leaf entries at `positions` (ascending, distinct, counted
/// before the removal) in place: their offsets go, their bytes stay as holes.
pub fn leaf_remove_in_place(b: &mut [u8], positions: &[usize]) -> bool {
    let Some(n) = RawNode::new(b) else {
        return false;
    };
    let count = n.count;
    if n.level != 0
        || positions.windows(2).any(|w| w[0] >= w[1])
        || positions.last().is_some_and(|&p| p >= count)
    {
        return false;
    }
    // Offsets sit at the page's end, entry i at PAGE_SIZE - 2 * (i + 1).
    // Each run of kept entries after a removed one moves up by the number
    // removed so far; runs are moved in index order, so a run's target
    // never overlaps an entry still to be moved.
    let slot = |i: usize| PAGE_SIZE - 2 * (i + 1);
    for (k, &p) in positions.iter().enumerate() {
        let end = positions.get(k + 1).copied().unwrap_or(count);
        // Kept entries p+1 .. end move from index i to i - (k + 1).
        if end > p + 1 {
            let src = slot(end - 1)..slot(p);
            b.copy_within(src, slot(end - 1 - (k + 1)));
        }
    }
    b[14..16].copy_from_slice(&((count - positions.len()) as u16).to_le_bytes());
    true
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
    fn key_comparison_matches_slice_order() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![1, 0],
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 0],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9],
            vec![1, 2, 3, 4, 5, 6, 7, 9],
            vec![255; 12],
            vec![255; 8],
            // Every length below 8, where the head is built from two reads.
            vec![1, 2, 3],
            vec![1, 2, 4],
            vec![1, 3],
            vec![1, 2, 3, 4, 5],
            vec![1, 2, 3, 4, 6],
            vec![1, 2, 3, 5, 5],
            vec![0, 0, 0, 0, 1],
            vec![1, 0, 0, 0, 0, 0],
            vec![9, 8, 7, 6, 5, 4],
            vec![128, 0, 0, 0, 7],
            vec![128, 0, 0, 1, 7],
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(cmp_key_bytes(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

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
        assert_eq!(raw.items().count(), 2);
        assert!(raw.item(0).unwrap().key.is_none());
        assert_eq!(raw.item(1).unwrap().key, Some(&b"abc"[..]));
        assert_eq!(raw.item(1).unwrap().child, 4);
        assert!(raw.item(2).is_none());
    }

    #[test]
    fn leaf_builder_writes_what_node_encode_writes() {
        let keys: [&[u8]; 4] = [b"", b"a", b"abc", &[0xff; 40]];
        let n = leaf(&keys);
        let mut want = [0u8; PAGE_SIZE];
        let mut n2 = n.clone();
        n2.right = 9;
        n2.encode(&mut want);
        let mut lb = LeafBuilder::new();
        for it in &n.items {
            let k = it.key.as_ref().unwrap();
            assert!(lb.fits(k.key.len(), PAGE_SIZE));
            lb.push(&k.key, k.tid);
        }
        let mut got = [0u8; PAGE_SIZE];
        lb.write_into(9, &mut got);
        assert!(got == want);
        assert_eq!(lb.end + 2 * lb.count, n.byte_size());
        // A cleared builder starts from zeroes again.
        lb.clear();
        lb.push(b"z", TupleId { page: 1, slot: 1 });
        lb.write_into(NO_BLOCK, &mut got);
        let mut one = [0u8; PAGE_SIZE];
        Node {
            level: 0,
            right: NO_BLOCK,
            items: vec![Item {
                key: Some(ItemKey {
                    key: b"z".to_vec(),
                    tid: TupleId { page: 1, slot: 1 },
                }),
                child: 0,
            }],
        }
        .encode(&mut one);
        assert!(got == one);
    }

    fn leaf(keys: &[&[u8]]) -> Node {
        Node {
            level: 0,
            right: NO_BLOCK,
            items: keys
                .iter()
                .enumerate()
                .map(|(i, k)| Item {
                    key: Some(ItemKey {
                        key: k.to_vec(),
                        tid: TupleId {
                            page: i as u32,
                            slot: 1,
                        },
                    }),
                    child: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn in_place_insert_and_remove() {
        let mut n = leaf(&[b"b", b"d"]);
        let mut b = [0u8; PAGE_SIZE];
        n.encode(&mut b);
        let tid = TupleId { page: 9, slot: 3 };
        assert!(leaf_insert_in_place(&mut b, 1, b"c", tid));
        assert!(leaf_insert_in_place(&mut b, 0, b"a", tid));
        assert!(leaf_insert_in_place(&mut b, 4, b"e", tid));
        let keys = |b: &[u8]| -> Vec<Vec<u8>> {
            Node::decode(b)
                .unwrap()
                .items
                .into_iter()
                .map(|i| i.key.unwrap().key)
                .collect()
        };
        assert_eq!(keys(&b), [&b"a"[..], b"b", b"c", b"d", b"e"]);
        assert!(leaf_remove_in_place(&mut b, &[0, 2, 4]));
        assert_eq!(keys(&b), [&b"b"[..], b"d"]);
        // Full: the contiguous space runs out, the caller rewrites the node.
        n = leaf(&[]);
        n.encode(&mut b);
        let big = vec![7u8; 1000];
        let mut fitted = 0;
        while leaf_insert_in_place(&mut b, fitted, &big, tid) {
            fitted += 1;
        }
        assert_eq!(fitted, (PAGE_SIZE - PAGE_HEADER_SIZE) / (1000 + 10));
        assert_eq!(Node::decode(&b).unwrap().items.len(), fitted);
    }

    #[test]
    fn in_place_remove_keeps_every_other_entry_in_order() {
        let all: Vec<Vec<u8>> = (0..7u8).map(|i| vec![b'a' + i]).collect();
        let refs: Vec<&[u8]> = all.iter().map(|k| &k[..]).collect();
        for mask in 0u32..(1 << all.len()) {
            let mut b = [0u8; PAGE_SIZE];
            leaf(&refs).encode(&mut b);
            let positions: Vec<usize> = (0..all.len()).filter(|i| mask & (1 << i) != 0).collect();
            assert!(leaf_remove_in_place(&mut b, &positions));
            let got: Vec<Vec<u8>> = Node::decode(&b)
                .unwrap()
                .items
                .into_iter()
                .map(|i| i.key.unwrap().key)
                .collect();
            let want: Vec<Vec<u8>> = (0..all.len())
                .filter(|i| mask & (1 << i) == 0)
                .map(|i| all[i].clone())
                .collect();
            assert_eq!(got, want, "removing {positions:?}");
        }
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
    #[inline]
    pub fn cmp_target(&self, target: &ItemKey) -> std::cmp::Ordering {
        match self.key {
            None => std::cmp::Ordering::Less,
            Some(k) => cmp_key_bytes(k, &target.key).then(self.tid.cmp(&target.tid)),
        }
    }
}

/// Byte-wise comparison of two keys, like `<[u8]>::cmp`, starting with their
/// first eight bytes as one integer: most keys (integers, short text)
/// differ there, and the binary searches of every descent make this the
/// B+Tree's hottest comparison.
#[inline]
pub fn cmp_key_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    #[inline(always)]
    fn head(x: &[u8]) -> u64 {
        // Without a variable-length copy: that compiles to a memcpy call,
        // two per comparison (a profile of select-only lookups counted 40
        // calls per lookup).
        // Shorter keys: two overlapping fixed-size reads, the first at
        // the front and the second ending at the last byte, shifted to
        // where those bytes belong (shared bytes land on themselves).
        let n = x.len();
        if let Some(w) = x.first_chunk::<8>() {
            u64::from_be_bytes(*w)
        } else if n >= 4 {
            let front = u32::from_be_bytes([x[0], x[1], x[2], x[3]]) as u64;
            let back = u32::from_be_bytes([x[n - 4], x[n - 3], x[n - 2], x[n - 1]]) as u64;
            (front << 32) | (back << (8 * (8 - n)))
        } else if n >= 2 {
            let front = u16::from_be_bytes([x[0], x[1]]) as u64;
            let back = u16::from_be_bytes([x[n - 2], x[n - 1]]) as u64;
            (front << 48) | (back << (8 * (8 - n)))
        } else if n == 1 {
            (x[0] as u64) << 56
        } else {
            0
        }
    }
    // Zero padding keeps the order: equal heads mean equal first bytes up
    // to the shorter length, and the rest (or the lengths) decide.
    match head(a).cmp(&head(b)) {
        std::cmp::Ordering::Equal if a.len() <= 8 || b.len() <= 8 => a.len().cmp(&b.len()),
        std::cmp::Ordering::Equal => a[8..].cmp(&b[8..]),
        o => o,
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

    /// Where the item area ends (the free space begins).
    pub fn items_end(&self) -> usize {
        u16::from_le_bytes([self.b[18], self.b[19]]) as usize
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
    pub fn items(&self) -> impl Iterator<Item = RawItem<'a>> + '_ {
        (0..self.count).map_while(|i| self.item(i))
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
