#!/usr/bin/env bash
# A profile-guided (PGO) build of olap: DuckDB's C++ compiled once with
# instrumentation, trained on olap's own questions, and compiled again with
# that profile (clang 22's -fprofile-use). Opt-in: it takes two cold DuckDB
# builds (about 20 minutes each on 2 cores), and a profile is a binary file
# that has no place in the repository, so `cargo build --release` (the
# system's GCC) stays the default build. This build is PGO without ThinLTO
# (.cargo/thinlto.toml is the ThinLTO one). See docs/architecture.md,
# "The build".
#
#   scripts/pgo.sh            # builds $PGO_DIR/use/release/olap
#
# Both builds use their own target directories under PGO_DIR (default
# ~/.cache/olap/pgo), never the shared one. Needs clang-22 and
# llvm-profdata-22 (Debian packages clang-22, llvm-22).
set -euo pipefail

cd "$(dirname "$0")/.."
PGO_DIR=${PGO_DIR:-$HOME/.cache/olap/pgo}
RT=$(ls /usr/lib/llvm-22/lib/clang/22/lib/*/libclang_rt.profile-x86_64.a 2>/dev/null | head -1 || true)
for tool in clang-22 clang++-22 llvm-profdata-22; do
    command -v "$tool" >/dev/null || { echo "pgo.sh: $tool is missing (apt-get install clang-22 llvm-22)" >&2; exit 2; }
done
[ -n "$RT" ] || { echo "pgo.sh: clang 22's profile runtime (libclang_rt.profile) is missing" >&2; exit 2; }
mkdir -p "$PGO_DIR"
RAW="$PGO_DIR/raw"
DATA="$PGO_DIR/data-10M"

echo "== 1/3 instrumented build ($PGO_DIR/gen)"
rm -rf "$RAW"
# RUSTFLAGS replaces the default's LLD/ThinLTO link flags (plain objects need
# none). The linker does not know the objects want
# clang's profile runtime: link it, and pull in the part that writes the
# profile at exit (-u __llvm_profile_runtime, which clang's driver adds).
CC=clang-22 CXX=clang++-22 AR=llvm-ar-22 \
    CFLAGS="-fprofile-generate=$RAW" CXXFLAGS="-fprofile-generate=$RAW" \
    RUSTFLAGS="-C link-arg=$RT" CARGO_TARGET_DIR="$PGO_DIR/gen" \
    cargo rustc --release --locked --bin olap -- -C link-arg=-Wl,-u,__llvm_profile_runtime
GEN="$PGO_DIR/gen/release/olap"

echo "== 2/3 training: olap's catalog and ad-hoc questions, rewritten and as written"
[ -f "$DATA/manifest.json" ] || "$GEN" generate --rows 10M --format both --output-dir "$DATA" --force -q
rm -rf "$RAW"
STORE="$PGO_DIR/store"
"$GEN" benchmark --data-dir "$DATA" --suite all --rounds 3 --csv-rounds 1 --store "$STORE" --format json >/dev/null
"$GEN" benchmark --data-dir "$DATA" --suite all --rounds 2 --rewrite off --store "$STORE" --format json >/dev/null
for view in partitions files; do
    "$GEN" benchmark --data-dir "$DATA" --suite all --rounds 2 --fact-view "$view" --rewrite off \
        --store "$STORE" --format json >/dev/null
done
"$GEN" analyze --data-dir "$DATA" --suite all --execute --profile --format json >/dev/null
ls "$RAW"/*.profraw >/dev/null 2>&1 || { echo "pgo.sh: training wrote no profile to $RAW" >&2; exit 1; }
llvm-profdata-22 merge -o "$PGO_DIR/duckdb.profdata" "$RAW"

echo "== 3/3 build with the profile ($PGO_DIR/use)"
FLAGS="-fprofile-use=$PGO_DIR/duckdb.profdata -Wno-profile-instr-unprofiled -Wno-profile-instr-out-of-date -Wno-backend-plugin"
# The build's name is compiled in (build.rs reads -fprofile-use): `olap
# --version` and benchmark results say "+pgo", so a baseline from another
# build is not compared by mistake.
CC=clang-22 CXX=clang++-22 AR=llvm-ar-22 CFLAGS="$FLAGS" CXXFLAGS="$FLAGS" \
    CARGO_TARGET_DIR="$PGO_DIR/use" cargo build --release --locked
echo "$PGO_DIR/use/release/olap"
