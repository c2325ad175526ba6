//! Capacity units: what one DynamoDB read or write costs, and what provisioned capacity buys.
//!
//! Exam: capacity unit maths. DynamoDB bills reads and writes in units of item size:
//!
//! | request                               | one unit covers | cost of one unit's worth |
//! |---------------------------------------|-----------------|--------------------------|
//! | strongly consistent read              | up to 4 KB      | 1 read unit              |
//! | eventually consistent read (default)  | up to 4 KB      | 1/2 read unit            |
//! | transactional read (`TransactGetItems`) | up to 4 KB    | 2 read units             |
//! | write (`PutItem`, `UpdateItem`, ...)  | up to 1 KB      | 1 write unit             |
//! | transactional write (`TransactWriteItems`) | up to 1 KB | 2 write units            |
//!
//! Sizes are rounded **up** to the next unit, and how depends on the operation:
//!
//! - `GetItem` (and each item of a `BatchGetItem`, a `BatchWriteItem` or a transaction) rounds
//!   the size of that one item: ten 100-byte items read one by one cost ten units.
//! - `Query` and `Scan` add up the sizes of every item they *read* (before any filter expression),
//!   then round the total once: the same ten items in one query cost one unit.
//! - A read of an item that is not there still costs the minimum: one unit (strongly consistent),
//!   half a unit (eventually consistent).
//!
//! The same maths gives the *request units* of an on-demand table (`PAY_PER_REQUEST`, this app's
//! template), and the *capacity units per second* of a provisioned one ([`Provisioned`]).
//!
//! What a request really consumed, DynamoDB says when asked: `ReturnConsumedCapacity=TOTAL`
//! (`INDEXES` adds the table's and each index's share; `NONE`, the default, says nothing). The
//! store asks on its calls, and the SDK interceptor of `telemetry::aws_calls` records the figure
//! on every DynamoDB call's X-Ray subsegment and log line.

/// A kilobyte as DynamoDB counts item sizes: 1,024 bytes.
pub const KB: u64 = 1024;
/// The size one read unit covers.
pub const READ_UNIT_BYTES: u64 = 4 * KB;
/// The size one write unit covers.
pub const WRITE_UNIT_BYTES: u64 = KB;

/// How a read is made, which sets its price per 4 KB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The default (`ConsistentRead=false`): may miss a write of the last second; half price.
    Eventual,
    /// `ConsistentRead=true`: sees every write acknowledged before it; full price.
    Strong,
    /// Part of `TransactGetItems`: twice the strongly consistent price (prepare and commit).
    Transactional,
}

/// How a write is made, which sets its price per 1 KB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Standard,
    /// Part of `TransactWriteItems`: twice the price.
    Transactional,
}

impl Read {
    /// Read units per started 4 KB.
    fn units_per_block(self) -> f64 {
        match self {
            Read::Eventual => 0.5,
            Read::Strong => 1.0,
            Read::Transactional => 2.0,
        }
    }
}

impl Write {
    /// Write units per started 1 KB.
    fn units_per_block(self) -> f64 {
        match self {
            Write::Standard => 1.0,
            Write::Transactional => 2.0,
        }
    }
}

/// The number of `unit`-sized blocks `bytes` starts: rounded up, and at least one (a read of an
/// item that is not there still costs the minimum).
fn blocks(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit).max(1)
}

/// Read units of one item of `bytes` read by `GetItem` (or one item of a batch or transaction).
pub fn read_units(bytes: u64, read: Read) -> f64 {
    blocks(bytes, READ_UNIT_BYTES) as f64 * read.units_per_block()
}

/// Read units of one `Query` or `Scan` page that read items of these sizes: the sizes are added
/// up first and the total rounded once.
pub fn query_read_units(item_sizes: &[u64], read: Read) -> f64 {
    read_units(item_sizes.iter().sum(), read)
}

/// Write units of writing one item of `bytes` (`PutItem`, `UpdateItem`, `DeleteItem`: the larger
/// of the item before and after the write counts).
pub fn write_units(bytes: u64, write: Write) -> f64 {
    blocks(bytes, WRITE_UNIT_BYTES) as f64 * write.units_per_block()
}

/// Read units per second a table needs to serve `items_per_second` reads of items of `bytes`
/// each (every item rounded on its own: these are single-item reads).
pub fn read_units_per_second(items_per_second: u64, bytes: u64, read: Read) -> f64 {
    items_per_second as f64 * read_units(bytes, read)
}

/// Write units per second a table needs to take `items_per_second` writes of items of `bytes`.
pub fn write_units_per_second(items_per_second: u64, bytes: u64, write: Write) -> f64 {
    items_per_second as f64 * write_units(bytes, write)
}

/// A provisioned table's throughput: read and write capacity units (per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provisioned {
    pub read_units: u64,
    pub write_units: u64,
}

impl Provisioned {
    /// Kilobytes per second of reads the table serves, made as `read`.
    pub fn read_kb_per_second(self, read: Read) -> f64 {
        self.read_units as f64 * (READ_UNIT_BYTES / KB) as f64 / read.units_per_block()
    }

    /// Kilobytes per second of writes the table takes, made as `write`.
    pub fn write_kb_per_second(self, write: Write) -> f64 {
        self.write_units as f64 * (WRITE_UNIT_BYTES / KB) as f64 / write.units_per_block()
    }

    /// Seconds for a `Scan` (eventually consistent, its default) to read a table of `table_kb`,
    /// using all the read capacity.
    pub fn full_scan_seconds(self, table_kb: u64) -> f64 {
        table_kb as f64 / self.read_kb_per_second(Read::Eventual)
    }
}

#[cfg(test)]
mod tests {
    //! The worked examples of the study notes (`../shared/exam/concepts.md` §3.4), exactly as the
    //! seed file named in each test states them.
    use super::*;

    // 000_069ba4a9f8438a6f.txt: "5 RCU & 5 WCU": reads 5 x (2 x 4 KB) = 40 KB/s eventually
    // consistent; writes 5 x 1 KB = 5 KB/s.
    #[test]
    fn five_rcu_and_five_wcu_give_40_kb_of_eventual_reads_and_5_kb_of_writes_a_second() {
        let table = Provisioned {
            read_units: 5,
            write_units: 5,
        };
        assert_eq!(table.read_kb_per_second(Read::Eventual), 40.0);
        assert_eq!(table.write_kb_per_second(Write::Standard), 5.0);
        // The same units read strongly consistently (or in transactions) serve less.
        assert_eq!(table.read_kb_per_second(Read::Strong), 20.0);
        assert_eq!(table.read_kb_per_second(Read::Transactional), 10.0);
        assert_eq!(table.write_kb_per_second(Write::Transactional), 2.5);
    }

    // 000_069ba4a9f8438a6f.txt: 80 items/s of 3 KB, strongly consistent: 3/4 = 0.75, rounded up
    // to 1, so 80 RCU; eventually consistent: 80 / 2 = 40 RCU.
    #[test]
    fn eighty_reads_a_second_of_3_kb_items_need_80_rcu_strong_and_40_eventual() {
        assert_eq!(read_units(3 * KB, Read::Strong), 1.0, "0.75 rounds up to 1");
        assert_eq!(read_units_per_second(80, 3 * KB, Read::Strong), 80.0);
        assert_eq!(read_units_per_second(80, 3 * KB, Read::Eventual), 40.0);
    }

    // 001_495d6206c345c50f.txt: an 8 KB item takes 2 read units strongly consistent, 1 eventually
    // consistent, 4 transactional.
    #[test]
    fn an_8_kb_item_is_2_read_units_strong_1_eventual_4_transactional() {
        assert_eq!(read_units(8 * KB, Read::Strong), 2.0);
        assert_eq!(read_units(8 * KB, Read::Eventual), 1.0);
        assert_eq!(read_units(8 * KB, Read::Transactional), 4.0);
    }

    // 001_495d6206c345c50f.txt: a 2 KB write takes 2 write units, 4 transactional.
    #[test]
    fn a_2_kb_write_is_2_write_units_and_4_transactional() {
        assert_eq!(write_units(2 * KB, Write::Standard), 2.0);
        assert_eq!(write_units(2 * KB, Write::Transactional), 4.0);
        assert_eq!(write_units_per_second(10, 2 * KB, Write::Standard), 20.0);
    }

    // 001_495d6206c345c50f.txt (outdated): "a query operation returns 20 items with a total size
    // of 20.1K, the read units consumed would be 21". That is the 1 KB read unit of before 2013.
    // Today's unit is 4 KB: a query adds up the sizes and rounds once, so 6 strong / 3 eventual.
    #[test]
    fn spot_the_outdated_maths_a_20_item_query_of_20_1_kb_is_6_rcu_not_21() {
        // 19 items of 1 KB and one of 1.1 KB: 20.1 KB in all.
        let mut sizes = vec![KB; 19];
        sizes.push(KB + KB / 10);
        let total: u64 = sizes.iter().sum();
        assert_eq!(total, 20_582, "20.1 KB");
        assert_eq!(query_read_units(&sizes, Read::Strong), 6.0);
        assert_eq!(query_read_units(&sizes, Read::Eventual), 3.0);
        // The notes' figure comes from 1 KB units: 20.1 rounded up.
        assert_eq!(total.div_ceil(1024), 21, "the notes' arithmetic");
        // Read one by one (GetItem, BatchGetItem), each item rounds up on its own: 20, not 6.
        let one_by_one: f64 = sizes.iter().map(|&s| read_units(s, Read::Strong)).sum();
        assert_eq!(one_by_one, 20.0);
    }

    // 001_495d6206c345c50f.txt (outdated): a 1 GB table scanned with 100 read units "would take
    // approximately 84 minutes". With 4 KB units (8 KB a unit eventually consistent): about 22.
    #[test]
    fn a_1_gb_scan_at_100_rcu_takes_about_22_minutes_not_84() {
        let table = Provisioned {
            read_units: 100,
            write_units: 1,
        };
        let minutes = table.full_scan_seconds(1024 * 1024) / 60.0;
        assert!((21.0..23.0).contains(&minutes), "{minutes}");
    }

    #[test]
    fn sizes_round_up_per_unit_and_a_request_costs_at_least_its_minimum() {
        assert_eq!(read_units(4 * KB, Read::Strong), 1.0);
        assert_eq!(read_units(4 * KB + 1, Read::Strong), 2.0);
        assert_eq!(
            read_units(10 * KB, Read::Strong),
            3.0,
            "10 KB rounds to 12 KB"
        );
        assert_eq!(write_units(KB + 1, Write::Standard), 2.0);
        // An item that is not there: the minimum.
        assert_eq!(read_units(0, Read::Strong), 1.0);
        assert_eq!(read_units(0, Read::Eventual), 0.5);
    }
}
