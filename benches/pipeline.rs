//! Throughput and memory benchmarks of the stages and of the whole `replay` path.
//!
//!   cargo bench --bench pipeline                # everything
//!   cargo bench --bench pipeline -- tagging     # sections: tagging, tagging-large, dedup, replay
//!
//! Figures are printed as a table; they are what `docs/PERFORMANCE.md` reports. Throughput is
//! given per CPU-second of the measured thread (or process, for `replay`), which is what "on
//! one core" means and does not move when something else runs on the machine, and per second
//! of wall-clock time.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use wirewatch::core::dedup::{DedupConfig, DedupIndex, DedupInput};
use wirewatch::core::tagger::{tag, Doc};
use wirewatch::core::taxonomy::Taxonomy;
use wirewatch::core::text::normalize;

// The allocator of the `wirewatch` binary, so in-process figures match production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small deterministic PRNG (xorshift64*), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Filler vocabulary: common English words plus numbered tokens (distinct bodies for dedup).
fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    const COMMON: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "said",
        "on",
        "for",
        "with",
        "was",
        "government",
        "officials",
        "market",
        "week",
        "year",
        "after",
        "report",
        "state",
        "people",
        "minister",
        "statement",
        "economy",
        "plans",
        "new",
        "region",
        "public",
        "data",
        "border",
        "policy",
        "meeting",
        "city",
        "company",
        "prices",
        "growth",
        "court",
        "election",
        "health",
        "workers",
        "team",
        "season",
    ];
    (0..n)
        .map(|i| {
            if i < COMMON.len() {
                COMMON[i].to_string()
            } else {
                format!("{}{}", COMMON[rng.below(COMMON.len())], i)
            }
        })
        .collect()
}

fn words(rng: &mut Rng, vocab: &[String], n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            s.push(if i % 17 == 0 { '.' } else { ' ' });
            if i % 17 == 0 {
                s.push(' ');
            }
        }
        s.push_str(&vocab[rng.below(vocab.len())]);
    }
    s
}

const DOMAIN: &[&str] = &[
    "North Korea fired two short-range ballistic missiles into the East Sea on Tuesday, South Korea's Joint Chiefs of Staff said.",
    "US Secretary of State Antony Blinken met his Japanese and South Korean counterparts, Toshimitsu Motegi and Chung Eui-yong, in London.",
    "Kim Jong Un oversaw the test, KCNA reported, as Pyongyang pressed ahead with its weapons programmes despite UN Security Council sanctions.",
    "Japan's Prime Minister said Tokyo would coordinate closely with Washington and Seoul on denuclearization of the Korean peninsula.",
    "Analysts said the launch was timed to coincide with joint military drills by US Forces Korea and the South Korean military.",
    "북한이 동해상으로 탄도미사일을 발사했다고 합동참모본부가 밝혔다. 北朝鮮が弾道ミサイルを発射した。",
];

/// Paragraphs of real wire text: the fixture feeds (AFP, Japan Times, Yonhap, KCNA Watch,
/// syndicated copies), markup removed.
fn paragraphs() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/feeds");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let Ok(stories) = wirewatch::replay::read_file(&e.path()) else {
            continue;
        };
        for s in stories {
            for field in [&s.summary, &s.content] {
                let text = wirewatch::core::text::html_to_text(field);
                out.extend(
                    text.split('\n')
                        .filter(|p| p.len() > 80)
                        .map(str::to_string),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    assert!(out.len() > 40, "fixture paragraphs: {}", out.len());
    out
}

/// A wire-like story of about `bytes` bytes: real paragraphs in random order, with some
/// neutral filler so not every sentence names an actor.
fn story(rng: &mut Rng, paras: &[String], vocab: &[String], bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 400);
    while s.len() < bytes {
        if rng.below(4) == 0 {
            s.push_str(&words(rng, vocab, 25));
            s.push('.');
        } else {
            s.push_str(&paras[rng.below(paras.len())]);
        }
        s.push_str("\n\n");
    }
    s
}

/// Seconds of CPU the calling thread has run (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// Wall-clock and CPU time of one measurement.
struct Timer {
    wall: Instant,
    cpu: f64,
}

impl Timer {
    fn start() -> Self {
        Timer {
            wall: Instant::now(),
            cpu: thread_cpu_secs(),
        }
    }

    /// "N stories/CPU-s (M/s wall)" for `n` stories.
    fn rate(&self, n: f64) -> String {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = thread_cpu_secs() - self.cpu;
        format!("{:>10.0} stories/CPU-s ({:.0}/s wall)", n / cpu, n / wall)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn shipped_taxonomy() -> Taxonomy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/taxonomy.toml");
    let src = std::fs::read_to_string(path).expect("config/taxonomy.toml");
    Taxonomy::from_toml(path, &src).expect("shipped taxonomy compiles")
}

/// The shipped taxonomy plus `extra` synthetic actors of 5 aliases each.
fn synthetic_taxonomy(rng: &mut Rng, extra: usize) -> (Taxonomy, usize) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/taxonomy.toml");
    let mut src = std::fs::read_to_string(path).expect("config/taxonomy.toml");
    let vocab = vocabulary(rng, 20_000);
    for i in 0..extra {
        src.push_str(&format!(
            "\n[[actor]]\nid = \"synthetic-{i}\"\nname = \"{} {}\"\nkind = \"person\"\naliases = [",
            vocab[rng.below(vocab.len())],
            vocab[rng.below(vocab.len())]
        ));
        for j in 0..4 {
            if j > 0 {
                src.push_str(", ");
            }
            src.push_str(&format!(
                "\"{} {} {}\"",
                vocab[rng.below(vocab.len())],
                vocab[rng.below(vocab.len())],
                vocab[rng.below(vocab.len())]
            ));
        }
        src.push_str("]\n");
    }
    let t = Taxonomy::from_toml("synthetic", &src).expect("synthetic taxonomy compiles");
    let n = t.pattern_count();
    (t, n)
}

fn bench_tagging(rng: &mut Rng, shipped: bool, large: bool) {
    let vocab = vocabulary(rng, 5_000);
    let paras = paragraphs();
    let stories: Vec<(String, String)> = (0..2_000)
        .map(|_| {
            (
                DOMAIN[rng.below(DOMAIN.len())].to_string(),
                story(rng, &paras, &vocab, 3_000),
            )
        })
        .collect();
    let avg = stories
        .iter()
        .map(|(t, b)| t.len() + b.len())
        .sum::<usize>()
        / stories.len();
    let mut taxonomies = Vec::new();
    if shipped {
        let t = shipped_taxonomy();
        taxonomies.push((
            "tagging, shipped taxonomy".to_string(),
            (t.pattern_count(), t),
        ));
    }
    if large {
        let (t, n) = synthetic_taxonomy(rng, 12_500);
        taxonomies.push(("tagging, +50,000 synthetic aliases".to_string(), (n, t)));
    }
    for (label, tax) in taxonomies
        .into_iter()
        .map(|(l, (n, t))| (format!("{l} ({n} patterns)"), t))
    {
        let one = |t: &str, b: &str| {
            std::hint::black_box(tag(
                &tax,
                &Doc {
                    title: t,
                    summary: "",
                    content: b,
                },
            ));
        };
        // Warm up, then time several passes.
        for (t, b) in stories.iter().take(200) {
            one(t, b);
        }
        // Five rounds of ten passes (20,000 stories, under half a second each): the median
        // round, and the range, since this machine's figures move by a few per cent.
        let passes = 10;
        let n = (passes * stories.len()) as f64;
        let mut rounds: Vec<(f64, String)> = (0..5)
            .map(|_| {
                let timer = Timer::start();
                for _ in 0..passes {
                    for (t, b) in &stories {
                        one(t, b);
                    }
                }
                let secs = thread_cpu_secs() - timer.cpu;
                (secs, timer.rate(n))
            })
            .collect();
        rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (secs, rate) = &rounds[rounds.len() / 2];
        println!(
            "{label:<58} {rate}  ({avg} B/story, {:.1} µs/story; median of {} rounds, {:.0}–{:.0}/CPU-s)",
            secs / n * 1e6,
            rounds.len(),
            n / rounds[rounds.len() - 1].0,
            n / rounds[0].0,
        );
        let secs = *secs;
        // Where the time goes (CPU time): normalisation, then the pattern search alone.
        let start = thread_cpu_secs();
        for _ in 0..passes {
            for (t, b) in &stories {
                std::hint::black_box((normalize(t), normalize(b)));
            }
        }
        let norm_us = (thread_cpu_secs() - start) / n * 1e6;
        let normalised: Vec<[String; 2]> = stories
            .iter()
            .map(|(t, b)| [normalize(t).text, normalize(b).text])
            .collect();
        let mut found = Vec::new();
        let start = thread_cpu_secs();
        for _ in 0..passes {
            for fields in &normalised {
                for f in fields {
                    found.clear();
                    tax.matcher.find(f.as_bytes(), &mut found);
                    std::hint::black_box(&found);
                }
            }
        }
        let match_us = (thread_cpu_secs() - start) / n * 1e6;
        println!(
            "  of which: normalisation {norm_us:.1} µs, pattern search {match_us:.1} µs, the rest {:.1} µs; matcher {:.1} MB",
            secs / n * 1e6 - norm_us - match_us,
            tax.matcher.memory_usage() as f64 / 1e6
        );
    }
}

fn bench_dedup(rng: &mut Rng) {
    let vocab = vocabulary(rng, 20_000);
    let window = 1_000_000usize;
    let mut d = DedupIndex::new(DedupConfig {
        window_secs: 365 * 24 * 3600,
        ..DedupConfig::default()
    });
    let rss0 = rss_kib();
    // Bodies are regenerated per story from a seed (keeping 1M bodies would dominate memory).
    let body_of = |seed: u64, len: usize| {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        words(&mut r, &vocab, len)
    };
    let timer = Timer::start();
    for i in 0..window as u64 {
        let body = body_of(i, 60 + (i as usize % 300));
        let id = format!("{i:016x}");
        let link = format!("https://example.com/{i}");
        d.observe(&DedupInput {
            id: &id,
            feed: "f",
            outlet: "o",
            canonical_link: Some(&link),
            title: "t",
            body: &body,
            now: 1_600_000_000 + i as i64,
        });
    }
    let fill = timer.rate(window as f64);
    let heap = d.heap_bytes();
    println!("dedup: fill 1,000,000 stories (with body generation)   {fill}");
    println!("dedup: memory per remembered story (index heap)         {:>10.0} bytes  (RSS growth {:.0} bytes/story)", heap as f64 / d.len() as f64, (rss_kib() - rss0) as f64 * 1024.0 / d.len() as f64);
    // Steady state with the window full: new stories, syndicated copies, re-deliveries.
    let n = 200_000u64;
    let bodies: Vec<(u64, String)> = (0..n)
        .map(|k| {
            let kind = k % 10;
            let src = if kind < 7 {
                window as u64 + k
            } else {
                rng.next() % window as u64
            };
            let mut b = body_of(src, 60 + (src as usize % 300));
            if kind == 7 || kind == 8 {
                b.insert_str(0, "Share Tweet ");
            }
            (src, b)
        })
        .collect();
    let timer = Timer::start();
    let mut copies = 0;
    for (k, (src, body)) in bodies.iter().enumerate() {
        let kind = k % 10;
        let id = if kind == 9 {
            format!("{src:016x}")
        } else {
            format!("{:016x}", 10_000_000 + k)
        };
        let link = if kind == 9 {
            format!("https://example.com/{src}")
        } else {
            format!("https://copy.example.com/{k}")
        };
        let (dec, _) = d.observe(&DedupInput {
            id: &id,
            feed: if kind == 9 { "f" } else { "g" },
            outlet: "o",
            canonical_link: Some(&link),
            title: "t",
            body,
            now: 1_600_000_000 + window as i64 + k as i64,
        });
        if dec.status != wirewatch::story::DedupStatus::New {
            copies += 1;
        }
    }
    println!("dedup: steady state, window of 1M (70% new, 30% copies) {}  ({copies} of {n} recognised as copies/duplicates)", timer.rate(n as f64));
}

fn bench_replay(rng: &mut Rng) {
    let vocab = vocabulary(rng, 5_000);
    let paras = paragraphs();
    let exe = env!("CARGO_BIN_EXE_wirewatch");
    let dir = std::env::temp_dir().join(format!("wirewatch-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut made = 0usize;
    let mut files = Vec::new();
    for (items_total, label) in [(20_000usize, "20k"), (80_000, "80k")] {
        while made < items_total {
            let path = dir.join(format!("feed-{:05}.xml", files.len()));
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            writeln!(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>bench</title>").unwrap();
            for j in 0..1_000 {
                let n = made + j;
                let title = format!(
                    "{} {}",
                    DOMAIN[rng.below(DOMAIN.len())]
                        .split(',')
                        .next()
                        .unwrap_or(""),
                    n
                );
                let size = 2_000 + rng.below(2_000);
                let body = story(rng, &paras, &vocab, size);
                let day = n / 2_000;
                writeln!(
                    f,
                    "<item><guid>bench-{n}</guid><link>https://example.com/news/{n}?utm_source=rss</link><title>{}</title><pubDate>{}</pubDate><description><![CDATA[{}]]></description></item>",
                    title,
                    chrono::DateTime::from_timestamp(1_600_000_000 + (day * 86_400 + (n % 2_000) * 40) as i64, 0).unwrap().to_rfc2822(),
                    body
                )
                .unwrap();
            }
            writeln!(f, "</channel></rss>").unwrap();
            files.push(path);
            made += 1_000;
        }
        let bytes: u64 = files
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        let start = Instant::now();
        let mut child = std::process::Command::new(exe)
            .arg("replay")
            .arg("--config")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config/wirewatch.toml"
            ))
            .args(&files)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("runs wirewatch replay");
        // Peak RSS of this replay: VmHWM, sampled until the process ends.
        let status_path = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0u64;
        let stat_path = format!("/proc/{}/stat", child.id());
        let mut cpu = 0.0f64;
        let status = loop {
            // CPU seconds (user + system, all threads) so far: the last sample before the
            // exit misses at most one 20 ms step.
            if let Ok(stat) = std::fs::read_to_string(&stat_path) {
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                cpu = cpu.max((ticks(11) + ticks(12)) / 100.0);
            }
            if let Ok(text) = std::fs::read_to_string(&status_path) {
                if let Some(v) = text
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                {
                    peak_kib = peak_kib.max(v);
                }
            }
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let secs = start.elapsed().as_secs_f64();
        assert!(status.success(), "wirewatch replay failed");
        let maxrss = peak_kib;
        println!(
            "replay {label} stories ({:.0} MB of RSS feeds, 2-4 KB stories)  {:>10.0} stories/CPU-s ({:.0}/s wall)  (peak RSS {} MiB)",
            bytes as f64 / 1e6,
            made as f64 / cpu,
            made as f64 / secs,
            maxrss / 1024
        );
    }
    // WIREWATCH_BENCH_KEEP=1 keeps the generated feeds (to profile `replay` over them).
    if std::env::var_os("WIREWATCH_BENCH_KEEP").is_some() {
        println!("replay: feeds kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |s: &str| filter.is_empty() || filter.iter().any(|f| f == s);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let _ = Arc::new(());
    if want("tagging") || want("tagging-large") {
        bench_tagging(&mut rng, want("tagging"), want("tagging-large"));
    }
    if want("dedup") {
        bench_dedup(&mut rng);
    }
    if want("replay") {
        bench_replay(&mut rng);
    }
}
