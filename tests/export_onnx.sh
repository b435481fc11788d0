#!/usr/bin/env bash
# `hydra export` round trip. A real one-node job (`hydra node --train
# --world 1`, mlp and cnn on a slice of Fashion-MNIST) leaves its final
# checkpoint; `hydra export` writes it as ONNX and as safetensors; then, in
# Python: onnx.checker passes, the network is rebuilt in PyTorch from the
# ONNX graph and its initializers (torch ops, not an ONNX runtime; the
# input standardisation is the graph's own Sub/Mul nodes), evaluated on the
# Fashion-MNIST test set, and must match the accuracy the node reported
# (result.json test_accuracy) within 0.1 point; the safetensors file holds
# the same tensors bit for bit and loads into a PyTorch module by
# state_dict names, with the same accuracy. Then a corrupt, truncated,
# foreign, wrong-model or missing checkpoint must each fail with a clear
# message and leave the output file as it was.
# Usage: export_onnx.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

train_job() {  # train_job DIR MODEL LIMIT
  mkdir -p "$1"
  admit "$1"
  timeout 150 "$hydra" node --listen 127.0.0.1:0 --state "$1" --train --world 1 --model "$2" --epochs 1 \
    --limit "$3" --batch 64 --seed 3 --threads 2 >"$1/node.log" 2>&1
  [ -s "$1/result.json" ] || { echo "the $2 job did not finish:"; tail -n 20 "$1/node.log"; return 1; }
}

roundtrip() {  # roundtrip MODEL LIMIT
  local dir="$tmp/$1" t0=$SECONDS out
  check "$1 job trained" train_job "$dir" "$1" "$2"
  [ -s "$dir/result.json" ] || return
  echo "$1: trained in $((SECONDS - t0)) s: $(cat "$dir/result.json" | cut -c1-120)..."
  out=$("$hydra" export --state "$dir" --format onnx --out "$dir/model.onnx" 2>&1)
  check "$1: export --format onnx" test $? -eq 0
  echo "$out"
  check "$1: the exported weights are the ones result.json reports" grep -q "weights match" <<<"$out"
  check "$1: export --format safetensors" "$hydra" export --state "$dir" --model "$1" --format safetensors \
    --out "$dir/model.safetensors"
  check "$1: no temporary files left" test -z "$(ls "$dir" | grep -F .tmp)"
  check "$1: PyTorch from the ONNX file matches hydra's accuracy, safetensors the same weights" \
    $py - "$dir/model.onnx" "$dir/model.safetensors" "$dir/result.json" "$1" <<'PYEOF'
import gzip, json, struct, sys
import numpy as np, onnx, torch
import torch.nn.functional as F
from onnx import numpy_helper

onnx_path, st_path, result_path, name = sys.argv[1:5]
torch.set_num_threads(2)
model = onnx.load(onnx_path)
onnx.checker.check_model(model, full_check=True)
g = model.graph
assert [i.name for i in g.input] == ["input"] and [o.name for o in g.output] == ["logits"]
assert [n.op_type for n in g.node[:2]] == ["Sub", "Mul"], "the standardisation is not the first two nodes"
init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}

def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

def onnx_net(x):
    """The ONNX graph, node by node, as torch operations."""
    env = dict(init)
    env["input"] = x
    for n in g.node:
        a, i = attrs(n), [env[k] for k in n.input]
        if n.op_type == "Sub":
            y = i[0] - i[1]
        elif n.op_type == "Mul":
            y = i[0] * i[1]
        elif n.op_type == "Conv":
            assert a.get("strides", [1, 1]) == [1, 1] and len(set(a["pads"])) == 1, a
            y = F.conv2d(i[0], i[1], i[2], padding=a["pads"][0])
        elif n.op_type == "Relu":
            y = F.relu(i[0])
        elif n.op_type == "MaxPool":
            y = F.max_pool2d(i[0], a["kernel_shape"], a["strides"])
        elif n.op_type == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif n.op_type == "Gemm":
            assert a.get("transB") == 1 and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0, a
            y = F.linear(i[0], i[1], i[2])
        else:
            raise AssertionError(f"unexpected op {n.op_type}")
        env[n.output[0]] = y
    return env["logits"]

# safetensors: u64 LE header length, JSON header, contiguous LE f32 tensors.
blob = open(st_path, "rb").read()
(hl,) = struct.unpack("<Q", blob[:8])
header = json.loads(blob[8 : 8 + hl])
data = blob[8 + hl :]
meta = header.pop("__metadata__")
assert meta["format"] == "pt" and meta["hydra_model"] == name, meta
spans = sorted(tuple(v["data_offsets"]) for v in header.values())
assert spans[0][0] == 0 and spans[-1][1] == len(data), "tensors do not fill the data"
assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), "tensors are not contiguous"
st = {}
for k, v in header.items():
    assert v["dtype"] == "F32", v
    b, e = v["data_offsets"]
    st[k] = torch.from_numpy(np.frombuffer(data[b:e], "<f4").reshape(v["shape"]).copy())
assert set(st) == set(init), (sorted(st), sorted(init))
for k in st:
    assert torch.equal(st[k].flatten(), init[k].flatten()), f"{k} differs between safetensors and ONNX"
    if not k.startswith("input."):
        assert st[k].shape == init[k].shape, k

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(784, 256), torch.nn.Linear(256, 128), torch.nn.Linear(128, 10)
    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(32, 64, 5, padding=2)
        self.fc1, self.fc2 = torch.nn.Linear(64 * 7 * 7, 1024), torch.nn.Linear(1024, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))

net = {"mlp": MLP, "cnn": CNN}[name]()
net.load_state_dict({k: v for k, v in st.items() if not k.startswith("input.")}, strict=True)
mean, inv_std = st["input.mean"].view(1, -1, 1, 1), st["input.inv_std"].view(1, -1, 1, 1)

root = "/usr/share/datasets/fashion-mnist"
def idx(f):
    with gzip.open(f"{root}/{f}.gz") as fh:
        return fh.read()
images, labels = idx("t10k-images-idx3-ubyte"), idx("t10k-labels-idx1-ubyte")
n = struct.unpack(">I", images[4:8])[0]
x = torch.from_numpy(np.frombuffer(images, np.uint8, offset=16).reshape(n, 1, 28, 28).astype(np.float32) / np.float32(255))
y = torch.from_numpy(np.frombuffer(labels, np.uint8, offset=8).astype(np.int64))

def accuracy(f):
    with torch.no_grad():
        return sum(int((f(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum()) for i in range(0, n, 1000)) / n

acc_onnx = accuracy(onnx_net)
acc_st = accuracy(lambda b: net((b - mean) * inv_std))
hydra_acc = json.load(open(result_path))["test_accuracy"]
print(f"{name}: test accuracy hydra {hydra_acc:.4f}, PyTorch from ONNX {acc_onnx:.4f}, "
      f"PyTorch from safetensors {acc_st:.4f}; standardisation mean {meta['input_mean']}, "
      f"inverse std {meta['input_inv_std']}")
assert abs(acc_onnx - hydra_acc) <= 0.001, (acc_onnx, hydra_acc)
assert abs(acc_st - hydra_acc) <= 0.001, (acc_st, hydra_acc)
PYEOF
}

# expect_refusal NAME WORDS EXPORT-ARGS...: export fails naming WORDS and
# leaves $keep as it was.
keep="$tmp/keep.onnx"
expect_refusal() {
  local name=$1 words=$2 out rc
  shift 2
  echo "previous contents" >"$keep"
  out=$("$hydra" export "$@" --format onnx --out "$keep" 2>&1)
  rc=$?
  echo "  $name: rc $rc: $out"
  check "$name: refused" test "$rc" -ne 0
  check "$name: says '$words'" grep -qF "$words" <<<"$out"
  check "$name: the output is untouched" test "$(cat "$keep")" = "previous contents"
  check "$name: no temporary file left" test -z "$(ls "$tmp" | grep -F .tmp)"
}

roundtrip mlp 6000
done_ckpt="$tmp/mlp/checkpoint.bin.done"
if [ -s "$done_ckpt" ]; then
  mkdir -p "$tmp/bad"
  cp "$done_ckpt" "$tmp/bad/checkpoint.bin.done"
  $py -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[1000] ^= 1; open(p, 'wb').write(b)" \
    "$tmp/bad/checkpoint.bin.done"
  expect_refusal "a flipped bit" "fails its checksum" --state "$tmp/bad"
  head -c 5000 "$done_ckpt" >"$tmp/short.bin"
  expect_refusal "a truncated checkpoint" "truncated checkpoint" --checkpoint "$tmp/short.bin"
  echo "not a checkpoint" >"$tmp/text.bin"
  expect_refusal "a text file" "not a Hydra checkpoint" --checkpoint "$tmp/text.bin"
  expect_refusal "the wrong model" "fits no job" --state "$tmp/mlp" --model cnn
  expect_refusal "the wrong optimizer" "fits no job" --state "$tmp/mlp" --optimizer adam
  mkdir -p "$tmp/empty"
  expect_refusal "no checkpoint" "no checkpoint" --state "$tmp/empty"
fi
if [ "${EXPORT_SKIP_CNN:-0}" != 1 ]; then roundtrip cnn 1500; fi
finish
