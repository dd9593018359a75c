"""Make a tiny llama GGUF file with random weights that llama.cpp's server loads, no network.

Run on a lab host by the lab's llama.cpp substitute for each served model (no model hub here),
with PyPI's ``gguf`` package (llama.cpp's own writer): a llama of hidden size 32, two layers, a
SentencePiece-style vocabulary of the 256 byte tokens and a few words, and a chat template. Its
answers are noise, but the server, its slots and the gateway's routes are real.
Usage: ``make_tiny_gguf.py PATH SEED CONTEXT``.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS = 32, 64, 2, 4, 2
WORDS = ["the", "gateway", "routes", "each", "handle", "to", "a", "tiny", "model", "answer"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def vocabulary() -> tuple[list[bytes], list[float], list[int]]:
    """<unk>, <s>, </s>, the 256 byte tokens (so any text tokenizes), then whole words."""
    tokens = [b"<unk>", b"<s>", b"</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>".encode() for b in range(256)]
    types += [TokenType.BYTE] * 256
    words = ["\u2581", *(f"\u2581{w}" for w in WORDS), *WORDS]
    tokens += [w.encode() for w in words]
    types += [TokenType.NORMAL] * len(words)
    scores = [0.0] * 259 + [-float(i) for i in range(len(words))]
    return tokens, scores, [int(t) for t in types]


def main(path: str, seed: int, context: int) -> None:
    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    head_dim = HIDDEN // HEADS

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    tmp = f"{path}.part"
    w = GGUFWriter(tmp, "llama")
    w.add_name(os.path.basename(path).removesuffix(".gguf"))
    w.add_context_length(context)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(INTERMEDIATE)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_chat_template(CHAT_TEMPLATE)
    vocab = len(tokens)
    # numpy shapes are (rows, columns) = (out, in); the writer stores them as ggml expects.
    w.add_tensor("token_embd.weight", weights(vocab, HIDDEN))
    w.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    w.add_tensor("output.weight", weights(vocab, HIDDEN))
    for i in range(LAYERS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight", weights(HIDDEN, HIDDEN))
        w.add_tensor(f"blk.{i}.attn_k.weight", weights(KV_HEADS * head_dim, HIDDEN))
        w.add_tensor(f"blk.{i}.attn_v.weight", weights(KV_HEADS * head_dim, HIDDEN))
        w.add_tensor(f"blk.{i}.attn_output.weight", weights(HIDDEN, HIDDEN))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", weights(INTERMEDIATE, HIDDEN))
        w.add_tensor(f"blk.{i}.ffn_up.weight", weights(INTERMEDIATE, HIDDEN))
        w.add_tensor(f"blk.{i}.ffn_down.weight", weights(HIDDEN, INTERMEDIATE))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)  # whole or absent: a half-written file never looks made


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
