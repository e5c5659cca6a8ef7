//! CPUs and NUMA nodes, read from /sys; which shard runs on which CPU.
use crate::config::ShardSpec;

/// Resolves the shard spec to a list of CPUs (one shard each), in ascending order.
pub fn shard_cpus(spec: &ShardSpec) -> std::io::Result<Vec<usize>> {
    let _ = spec;
    todo!()
}
