//! CPUs and NUMA nodes, read from /sys; which shard runs on which CPU.
//!
//! Job: turn a [`ShardSpec`] into the ascending list of CPUs that run one shard each.
//! The /sys readers are thin wrappers around pure functions ([`parse_cpu_list`],
//! [`node_of_cpu_in`], [`resolve_shard_cpus`]) so the logic is tested without /sys.
//!
//! Does not: pin threads (the `shard` module does), bind memory, or look at IRQs.
//!
//! Invariants: every list returned is ascending, without duplicates, and (for
//! [`shard_cpus`]) contains only online CPUs.
use crate::config::ShardSpec;
use std::io;
use std::path::Path;

const CPU_ONLINE: &str = "/sys/devices/system/cpu/online";
const NODE_DIR: &str = "/sys/devices/system/node";

/// Parses the kernel's CPU list format ("0-3,5,7-8"; whitespace around items is ignored).
/// The empty string is the empty list (a CPU-less NUMA node has an empty `cpulist`).
/// The result is ascending without duplicates.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    let s = s.trim();
    if s.is_empty() {
        return Ok(cpus);
    }
    for item in s.split(',') {
        let item = item.trim();
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{item}` is not a CPU number or range like 0-3"))
        };
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("range `{item}` runs backwards (write {b}-{a})"));
                }
                if b - a >= 1 << 16 {
                    return Err(format!("range `{item}` is implausibly large"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(num(item)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Given `(node, cpulist contents)` pairs, the node whose list contains `cpu`.
pub fn node_of_cpu_in(nodes: &[(usize, String)], cpu: usize) -> Option<usize> {
    nodes.iter().find_map(|(node, list)| {
        parse_cpu_list(list)
            .ok()
            .filter(|cpus| cpus.contains(&cpu))
            .map(|_| *node)
    })
}

/// The pure core of [`shard_cpus`]. `online`: the online CPUs (ascending). `nodes`:
/// `(node, cpulist contents)` of every NUMA node, or `None` when the kernel has no NUMA
/// support (no /sys/devices/system/node).
pub fn resolve_shard_cpus(
    spec: &ShardSpec,
    online: &[usize],
    nodes: Option<&[(usize, String)]>,
) -> Result<Vec<usize>, String> {
    match spec {
        ShardSpec::Cpus(list) => {
            if list.is_empty() {
                return Err("the CPU list is empty".into());
            }
            let mut sorted = list.clone();
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("CPU {} is listed twice", w[0]));
            }
            let offline: Vec<String> = sorted
                .iter()
                .filter(|c| !online.contains(c))
                .map(|c| c.to_string())
                .collect();
            if !offline.is_empty() {
                return Err(format!(
                    "CPU {} not online (online: {})",
                    offline.join(","),
                    format_cpu_list(online)
                ));
            }
            Ok(sorted)
        }
        ShardSpec::Auto { node } => {
            let Some(nodes) = nodes else {
                if let Some(n) = node.filter(|n| *n != 0) {
                    return Err(format!(
                        "NUMA node {n} requested but this kernel shows no NUMA nodes"
                    ));
                }
                return non_empty(online.to_vec(), "no online CPUs");
            };
            let node = match node {
                Some(n) => *n,
                None => {
                    let first = *online.first().ok_or("no online CPUs")?;
                    node_of_cpu_in(nodes, first)
                        .ok_or_else(|| format!("CPU {first} belongs to no NUMA node"))?
                }
            };
            let list = nodes
                .iter()
                .find(|(n, _)| *n == node)
                .map(|(_, l)| l)
                .ok_or_else(|| format!("NUMA node {node} does not exist"))?;
            let cpus = parse_cpu_list(list).map_err(|e| format!("node{node}/cpulist: {e}"))?;
            let cpus: Vec<usize> = cpus.into_iter().filter(|c| online.contains(c)).collect();
            non_empty(cpus, &format!("NUMA node {node} has no online CPUs"))
        }
    }
}

fn non_empty(cpus: Vec<usize>, why: &str) -> Result<Vec<usize>, String> {
    if cpus.is_empty() {
        Err(why.to_string())
    } else {
        Ok(cpus)
    }
}

/// Formats an ascending CPU list compactly ("0-3,5").
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn read_list(path: &Path) -> io::Result<Vec<usize>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    parse_cpu_list(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// The online CPUs, from /sys/devices/system/cpu/online.
pub fn online_cpus() -> io::Result<Vec<usize>> {
    read_list(Path::new(CPU_ONLINE))
}

/// `(node, cpulist contents)` for every nodeN under /sys/devices/system/node, ascending;
/// `None` when that directory does not exist (kernel without NUMA support).
fn numa_nodes() -> io::Result<Option<Vec<(usize, String)>>> {
    let dir = match std::fs::read_dir(NODE_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{NODE_DIR}: {e}"))),
    };
    let mut nodes = Vec::new();
    for entry in dir {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix("node"))
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        let path = entry.path().join("cpulist");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        nodes.push((n, text));
    }
    nodes.sort_by_key(|(n, _)| *n);
    Ok(Some(nodes))
}

/// The NUMA node of `cpu`; `None` when the kernel has no NUMA support or no node lists it.
pub fn numa_node_of_cpu(cpu: usize) -> io::Result<Option<usize>> {
    Ok(numa_nodes()?.and_then(|nodes| node_of_cpu_in(&nodes, cpu)))
}

/// Resolves the shard spec to a list of CPUs (one shard each), in ascending order.
/// Errors (kind `InvalidInput`): duplicate or offline CPUs, unknown or CPU-less node.
pub fn shard_cpus(spec: &ShardSpec) -> io::Result<Vec<usize>> {
    let online = online_cpus()?;
    let nodes = match spec {
        ShardSpec::Auto { .. } => numa_nodes()?,
        ShardSpec::Cpus(_) => None,
    };
    resolve_shard_cpus(spec, &online, nodes.as_deref()).map_err(|e| invalid(format!("shards: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<(usize, String)> {
        vec![(0, "0-3\n".into()), (1, "4-7\n".into()), (2, "\n".into())]
    }

    #[test]
    fn cpu_list_parses() {
        assert_eq!(parse_cpu_list("0-3,5").unwrap(), vec![0, 1, 2, 3, 5]);
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("7, 2,2-3\n").unwrap(), vec![2, 3, 7]);
    }

    #[test]
    fn cpu_list_errors() {
        let e = parse_cpu_list("3-1").unwrap_err();
        assert!(e.contains("backwards"), "{e}");
        let e = parse_cpu_list("0,x").unwrap_err();
        assert!(e.contains("`x`"), "{e}");
        assert!(parse_cpu_list("1-").is_err());
        assert!(parse_cpu_list("0,,1").is_err());
        assert!(parse_cpu_list("0-99999999").is_err());
    }

    #[test]
    fn format_roundtrip() {
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(format_cpu_list(&[]), "");
        assert_eq!(format_cpu_list(&[4]), "4");
    }

    #[test]
    fn node_lookup() {
        assert_eq!(node_of_cpu_in(&nodes(), 5), Some(1));
        assert_eq!(node_of_cpu_in(&nodes(), 0), Some(0));
        assert_eq!(node_of_cpu_in(&nodes(), 9), None);
    }

    #[test]
    fn explicit_cpus() {
        let online = [0, 1, 2, 3];
        let r = resolve_shard_cpus(&ShardSpec::Cpus(vec![3, 1]), &online, None);
        assert_eq!(r.unwrap(), vec![1, 3]);
        let e = resolve_shard_cpus(&ShardSpec::Cpus(vec![1, 1]), &online, None).unwrap_err();
        assert_eq!(e, "CPU 1 is listed twice");
        let e = resolve_shard_cpus(&ShardSpec::Cpus(vec![0, 4, 9]), &online, None).unwrap_err();
        assert_eq!(e, "CPU 4,9 not online (online: 0-3)");
        assert!(resolve_shard_cpus(&ShardSpec::Cpus(vec![]), &online, None).is_err());
    }

    #[test]
    fn auto_uses_node_of_first_online_cpu() {
        let online: Vec<usize> = (2..8).collect();
        let n = nodes();
        let r = resolve_shard_cpus(&ShardSpec::Auto { node: None }, &online, Some(&n));
        assert_eq!(r.unwrap(), vec![2, 3]);
        let r = resolve_shard_cpus(&ShardSpec::Auto { node: Some(1) }, &online, Some(&n));
        assert_eq!(r.unwrap(), vec![4, 5, 6, 7]);
        let online: Vec<usize> = (4..8).collect();
        let r = resolve_shard_cpus(&ShardSpec::Auto { node: None }, &online, Some(&n));
        assert_eq!(r.unwrap(), vec![4, 5, 6, 7]);
    }

    #[test]
    fn auto_errors() {
        let online = [0, 1, 2, 3];
        let n = nodes();
        let e = resolve_shard_cpus(&ShardSpec::Auto { node: Some(2) }, &online, Some(&n));
        assert_eq!(e.unwrap_err(), "NUMA node 2 has no online CPUs");
        let e = resolve_shard_cpus(&ShardSpec::Auto { node: Some(5) }, &online, Some(&n));
        assert_eq!(e.unwrap_err(), "NUMA node 5 does not exist");
        let e = resolve_shard_cpus(&ShardSpec::Auto { node: Some(1) }, &online, None);
        assert!(e.unwrap_err().contains("no NUMA nodes"));
    }

    #[test]
    fn auto_without_numa_is_all_online() {
        let online = [0, 1, 2, 3];
        let r = resolve_shard_cpus(&ShardSpec::Auto { node: None }, &online, None);
        assert_eq!(r.unwrap(), vec![0, 1, 2, 3]);
        let r = resolve_shard_cpus(&ShardSpec::Auto { node: Some(0) }, &online, None);
        assert_eq!(r.unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn this_machine() {
        // Real /sys: the online list is non-empty and auto picks a subset of it.
        let online = online_cpus().unwrap();
        assert!(!online.is_empty());
        let auto = shard_cpus(&ShardSpec::Auto { node: None }).unwrap();
        assert!(
            auto.iter().all(|c| online.contains(c)),
            "{auto:?} vs {online:?}"
        );
        assert_eq!(auto[0], online[0]);
        let e = shard_cpus(&ShardSpec::Cpus(vec![online[0], online[0]])).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("listed twice"), "{e}");
        let e = shard_cpus(&ShardSpec::Cpus(vec![100_000])).unwrap_err();
        assert!(e.to_string().contains("not online"), "{e}");
    }
}
