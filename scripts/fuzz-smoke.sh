#!/usr/bin/env bash
# Fuzz smoke run: installs cargo-fuzz if it is missing, seeds the corpora from the repository's
# fixtures and ../shared/corpus, builds the fuzz targets of fuzz/ and runs each for a short
# time. Exits non-zero when a target crashes (panic, failed assertion, timeout, out of memory);
# the input that did it is in fuzz/artifacts/<target>/. Long runs and turning a crash into a
# regression test: docs/FUZZING.md.
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_TARGETS    targets to run, space-separated (default: all four)
#   FUZZ_SANITIZER  none (default) or address
#   WIREWATCH_CORPUS  feed documents to seed feed_parse (default ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_TARGETS=${FUZZ_TARGETS:-feed_parse canon_link normalize tag}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
# Without a sanitizer cargo-fuzz's rustc flags (sancov coverage, --cfg fuzzing) are all stable.
# A sanitizer needs -Zsanitizer=...: RUSTC_BOOTSTRAP lets the one stable toolchain take it
# (docs/FUZZING.md, "Toolchain").
if [ "$FUZZ_SANITIZER" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi
CORPUS_SRC=${WIREWATCH_CORPUS:-$ROOT/../shared/corpus}
CARGO_FUZZ_VERSION=0.13.2

log() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

# --- tools ------------------------------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 1 minute on 2 cores)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# --- seed corpora -----------------------------------------------------------------------------
# fuzz/corpus/ is not committed: it is seeded here at every run (existing files are kept) and grows as libFuzzer adds the inputs that reach new code.
log "seeding fuzz/corpus/"
seed_files() { # seed_files DEST DIR... : copies files under 64 KiB, one name per source path
  local dest=$1 dir f name
  shift
  mkdir -p "$dest"
  for dir in "$@"; do
    [ -d "$dir" ] || continue
    while IFS= read -r -d '' f; do
      name=${f#"$dir"/}
      [ -e "$dest/seed-${name//\//_}" ] || cp "$f" "$dest/seed-${name//\//_}"
    done < <(find "$dir" -type f -size -64k \
      ! -name 'MANIFEST.tsv' ! -name SOURCE ! -name 'LICENSE*' ! -name 'README*' \
      ! -name '*.serde.json' -print0)
  done
}
seed_files fuzz/corpus/feed_parse tests/fixtures/feeds
if [ -d "$CORPUS_SRC" ]; then
  seed_files fuzz/corpus/feed_parse "$CORPUS_SRC"
else
  echo "note: $CORPUS_SRC not found; feed_parse starts from tests/fixtures/feeds only"
fi

mkdir -p fuzz/corpus/canon_link
i=0
while IFS= read -r url; do
  i=$((i + 1))
  printf '%s' "$url" >"fuzz/corpus/canon_link/seed-fixture-$i"
done < <(grep -ohE 'https?://[^"<>[:space:]]+' tests/fixtures/feeds/* | sort -u | head -n 300)
for url in \
  'HTTPS://WWW.Example.COM:443/a/B?utm_source=rss&id=3&fbclid=x#top' \
  'http://example.com:80/x?b=2&a=1&b=1' \
  'http://example.com/x?utm_medium=feed&xtor=RSS-1' \
  'https://[::1]:8443/%7Euser/a%20b?q=a+b&q=%26' \
  'http://xn--bcher-kva.example/ä?ö=ü' \
  'https://user:pw@example.com./a/./b/../c?&&=&a' \
  ' http://例え.jp/パス?キー=値 '; do
  i=$((i + 1))
  printf '%s' "$url" >"fuzz/corpus/canon_link/seed-hand-$i"
done

mkdir -p fuzz/corpus/normalize fuzz/corpus/tag fuzz/target
if command -v python3 >/dev/null 2>&1; then
  # Headlines and bodies of the labelled tagging set (several languages and scripts) and a
  # dictionary of every pattern of the shipped taxonomy, so the tagger's matches are reached.
  python3 - tests/data/tagging/labelled.jsonl config/taxonomy.toml <<'PY' ||
import json, sys

labelled, taxonomy = sys.argv[1], sys.argv[2]
for i, line in enumerate(open(labelled, encoding="utf-8")):
    d = json.loads(line)
    t, s, c = (d.get(k) or "" for k in ("title", "summary", "content"))
    with open(f"fuzz/corpus/normalize/seed-labelled-{i}", "w", encoding="utf-8") as f:
        f.write((t + "\n" + s)[:4096])
    with open(f"fuzz/corpus/tag/seed-labelled-{i}", "w", encoding="utf-8") as f:
        f.write((t + "\n" + s + "\n" + c)[:16384])

def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)

def escape(s):
    return "".join(
        chr(b) if 0x20 <= b < 0x7f and b not in (0x22, 0x5c) else f"\\x{b:02x}"
        for b in s.encode("utf-8")
    )

try:
    import tomllib  # Python 3.11+
except ImportError:
    sys.exit(0)
with open(taxonomy, "rb") as f:
    tax = tomllib.load(f)
words = sorted({s for s in strings(tax) if 0 < len(s.encode()) <= 64})
with open("fuzz/target/tag.dict", "w", encoding="ascii") as f:
    for w in words:
        f.write(f'"{escape(w)}"\n')
PY
    echo "note: could not write the normalize/tag seeds or the tag dictionary"
else
  echo "note: no python3; normalize and tag start from built-in seeds only"
fi
printf 'Kim Jong-un&#39;s <b>visit</b> to Pyŏngyang' >fuzz/corpus/normalize/seed-hand-1
printf '북한 «미사일» 발사' >fuzz/corpus/normalize/seed-hand-2
printf 'North Korea fires ballistic missile\nPyongyang launched an ICBM.\nThe missile flew 1,000 km.' \
  >fuzz/corpus/tag/seed-hand-1

# --- build ------------------------------------------------------------------------------------
# Same dependency versions as the main package.
cp Cargo.lock fuzz/Cargo.lock
log "building the fuzz targets (sanitizer: $FUZZ_SANITIZER)"
build_start=$SECONDS
cargo fuzz build --sanitizer "$FUZZ_SANITIZER"
echo "built in $((SECONDS - build_start)) s"

# --- run --------------------------------------------------------------------------------------
max_len() {
  case $1 in
    feed_parse) echo 65536 ;;
    canon_link) echo 4096 ;;
    *) echo 16384 ;;
  esac
}
dict() {
  case $1 in
    feed_parse) echo "-dict=$ROOT/fuzz/dict/feed_parse.dict" ;;
    normalize) echo "-dict=$ROOT/fuzz/dict/normalize.dict" ;;
    tag) if [ -s fuzz/target/tag.dict ]; then echo "-dict=$ROOT/fuzz/target/tag.dict"; fi ;;
  esac
}
mkdir -p fuzz/target/smoke
failed=()
summary=()
for t in $FUZZ_TARGETS; do
  log "fuzzing $t for $FUZZ_SECONDS s"
  logf=fuzz/target/smoke/$t.log
  # shellcheck disable=SC2046 # dict is one word or none
  if cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 $(dict "$t") >"$logf" 2>&1; then
    execs=$(grep -h 'stat::number_of_executed_units' "$logf" | awk '{s += $2} END {print s + 0}')
    cov=$(grep -hoE 'cov: [0-9]+' "$logf" | tail -n 1)
    summary+=("$t: ok, $execs runs, $cov, corpus $(find "fuzz/corpus/$t" -type f | wc -l) files")
    grep -hE '^(Done|stat::)' "$logf" || true
  else
    failed+=("$t")
    summary+=("$t: FAILED (log: $logf, input: fuzz/artifacts/$t/)")
    echo "---- last 60 lines of $logf"
    tail -n 60 "$logf"
  fi
done

log "fuzz smoke summary ($((SECONDS - start)) s in all)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashing targets: ${failed[*]} — see docs/FUZZING.md, 'When a target crashes'"
  exit 1
fi
