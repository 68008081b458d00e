"""Writes the fixtures of backend/nn/pretrained's tests: small ViT checkpoints
laid out as timm, DINO and iBOT save them, two that the importer must refuse,
and PyTorch's CLS features of the imported backbones at sslens's 32 px.

Run from the repository root with Debian's PyTorch 1.13 (apt-get install -y
python3-torch; the 1.13 bicubic rule is the one sslens reproduces):

    /usr/bin/python3 backend/nn/pretrained/testdata/make_fixtures.py

It is deterministic (torch.manual_seed(0)), rewrites every file below into
this folder, then reads them back and checks them (see check()). The model is
a timm-layout VisionTransformer shrunk to stay small: embed_dim 48, depth 2,
3 heads of 16, mlp_ratio 4, qkv bias, patch 8, 3 channels, LayerNorm eps
1e-6, exact (erf) GELU, trained at 224 px (pos_embed (1, 1+28*28, 48)).
Weights are N(0, 0.02^2) for matrices, the class token and the position
embedding, N(0, 0.1^2) for biases, 1 + N(0, 0.1^2) for LayerNorm weights, so
that a wrong mapping shows in the features.

Files (README.md says more about each):
  timm_vit_p8_224.safetensors  timm state dict with its 1000-class head, F32
  dino_vit_p8_224.pth          DINO training checkpoint: student under
                               "module.backbone.", teacher (student + 0.01)
                               under "backbone.", DINO head keys, optimizer
  ibot_vit_p8_224.pth          iBOT checkpoint: "state_dict" with the timm
                               weights under "backbone.", masked_embed, heads
  malicious.pth                torch.save zip whose pickle calls os.system
  patch16_vit_224.pth          timm state dict with patch 16 under "model"
  input.npy                    (4, 3, 32, 32) float32 N(0, 1) images
  features_timm.npy            (4, 48) CLS features of the timm weights
  features_dino_teacher.npy    (4, 48) CLS features of the DINO teacher
  resampled_pos_embed.npy      (1, 17, 48) timm pos_embed resampled to 4x4
Features are computed in float64 from the float32 weights and stored float32.
"""
import collections
import json
import math
import os
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DIM, DEPTH, HEADS, MLP_RATIO, CHANS = 48, 2, 3, 4, 3
PATCH, TRAIN_SIZE, SIZE = 8, 224, 32  # pixels
EPS = 1e-6
PWN = "/tmp/sslens-pwned"  # the file malicious.pth's pickle would write


def timm_state_dict(patch):
    """A timm VisionTransformer state dict in named_parameters order, with a
    (1000, DIM) classification head."""
    g, hidden = TRAIN_SIZE // patch, MLP_RATIO * DIM
    mat = lambda *s: torch.randn(*s) * 0.02
    bias = lambda n: torch.randn(n) * 0.1
    norm = lambda p: [(p + ".weight", 1 + torch.randn(DIM) * 0.1), (p + ".bias", bias(DIM))]
    sd = [("cls_token", mat(1, 1, DIM)), ("pos_embed", mat(1, 1 + g * g, DIM)),
          ("patch_embed.proj.weight", mat(DIM, CHANS, patch, patch)), ("patch_embed.proj.bias", bias(DIM))]
    for i in range(DEPTH):
        b = "blocks.%d." % i
        sd += norm(b + "norm1")
        sd += [(b + "attn.qkv.weight", mat(3 * DIM, DIM)), (b + "attn.qkv.bias", bias(3 * DIM)),
               (b + "attn.proj.weight", mat(DIM, DIM)), (b + "attn.proj.bias", bias(DIM))]
        sd += norm(b + "norm2")
        sd += [(b + "mlp.fc1.weight", mat(hidden, DIM)), (b + "mlp.fc1.bias", bias(hidden)),
               (b + "mlp.fc2.weight", mat(DIM, hidden)), (b + "mlp.fc2.bias", bias(DIM))]
    sd += norm("norm")
    sd += [("head.weight", mat(1000, DIM)), ("head.bias", bias(1000))]
    return collections.OrderedDict(sd)


def backbone(sd):
    """sd without the classification head, as DINO and iBOT build their
    backbones (num_classes=0, head = nn.Identity)."""
    return collections.OrderedDict((k, v) for k, v in sd.items() if not k.startswith("head."))


def ssl_head(prefix):
    """A small DINO/iBOT projection head (48 -> 32 -> 32 -> 16, 64 prototypes
    in a weight-normed last layer); the importer drops it."""
    shapes = [("mlp.0.weight", (32, DIM)), ("mlp.0.bias", (32,)), ("mlp.2.weight", (32, 32)), ("mlp.2.bias", (32,)),
              ("mlp.4.weight", (16, 32)), ("mlp.4.bias", (16,)),
              ("last_layer.weight_g", (64, 1)), ("last_layer.weight_v", (64, 16))]
    return collections.OrderedDict((prefix + k, torch.randn(*s) * 0.02) for k, s in shapes)


def prefixed(prefix, sd):
    return collections.OrderedDict((prefix + k, v) for k, v in sd.items())


def write_safetensors(path, sd):
    """Writes sd as safetensors by hand (Debian has no python3-safetensors):
    8-byte little-endian header length, JSON header padded with spaces to 8
    bytes, then the tensors' little-endian float32 bytes end to end."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in sd.items():
        b = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__")
    out = collections.OrderedDict()
    for name, e in header.items():
        lo, hi = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(buf[8 + n + lo:8 + n + hi], "<f4").reshape(e["shape"]).copy())
    return meta, out


class Pwn:
    """Pickles as a call of os.system (global posix.system on Linux)."""

    def __reduce__(self):
        return (os.system, ("echo pwned > " + PWN,))


def resample_pos_embed(pos, src, dst):
    """DINO's interpolate_pos_encoding for a (1, 1+src^2, D) pos, as PyTorch
    1.13 runs it: the class position kept, the patch grid resampled bicubic
    with scale factor (dst+0.1)/src, align_corners=False."""
    dim, s = pos.shape[-1], (dst + 0.1) / src
    grid = pos[:, 1:].reshape(1, src, src, dim).permute(0, 3, 1, 2)
    out = F.interpolate(grid, scale_factor=(s, s), mode="bicubic", align_corners=False)
    assert out.shape[-2:] == (dst, dst), out.shape
    return torch.cat((pos[:, :1], out.permute(0, 2, 3, 1).reshape(1, dst * dst, dim)), dim=1)


def cls_features(sd, img, resample=resample_pos_embed):
    """The CLS token after the final norm of sd's ViT on img (B, 3, SIZE,
    SIZE), in the dtype of img; plain PyTorch, no timm."""
    p = {k: v.to(img.dtype) for k, v in sd.items()}
    bsz, hd = img.shape[0], DIM // HEADS
    x = F.conv2d(img, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)  # (B, 16, D)
    x = torch.cat((p["cls_token"].expand(bsz, -1, -1), x), dim=1)
    x = x + resample(p["pos_embed"], TRAIN_SIZE // PATCH, SIZE // PATCH)
    t = x.shape[1]
    for i in range(DEPTH):
        b = "blocks.%d." % i
        h = F.layer_norm(x, (DIM,), p[b + "norm1.weight"], p[b + "norm1.bias"], EPS)
        q, k, v = F.linear(h, p[b + "attn.qkv.weight"], p[b + "attn.qkv.bias"]) \
            .reshape(bsz, t, 3, HEADS, hd).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1) / math.sqrt(hd)).softmax(dim=-1)
        h = (a @ v).transpose(1, 2).reshape(bsz, t, DIM)
        x = x + F.linear(h, p[b + "attn.proj.weight"], p[b + "attn.proj.bias"])
        h = F.layer_norm(x, (DIM,), p[b + "norm2.weight"], p[b + "norm2.bias"], EPS)
        h = F.gelu(F.linear(h, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"]))
        x = x + F.linear(h, p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"])
    x = F.layer_norm(x, (DIM,), p["norm.weight"], p["norm.bias"], EPS)
    return x[:, 0]


def path(name):
    return os.path.join(HERE, name)


def write():
    torch.manual_seed(0)
    timm = timm_state_dict(PATCH)
    write_safetensors(path("timm_vit_p8_224.safetensors"), timm)

    student = backbone(timm)
    teacher = collections.OrderedDict((k, v + 0.01) for k, v in student.items())
    dino = {
        "student": collections.OrderedDict(list(prefixed("module.backbone.", student).items()) +
                                           list(ssl_head("module.head.").items())),
        "teacher": collections.OrderedDict(list(prefixed("backbone.", teacher).items()) +
                                           list(ssl_head("head.").items())),
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.0005, "weight_decay": 0.04, "params": [0, 1, 2]}]},
        "epoch": 100,
        "args": None,
        "dino_loss": {"center": torch.zeros(1, 64)},
    }
    torch.save(dino, path("dino_vit_p8_224.pth"))

    ibot = collections.OrderedDict(list(prefixed("backbone.", student).items()) +
                                   [("backbone.masked_embed", torch.randn(DIM) * 0.02)] +
                                   list(ssl_head("head.").items()))
    torch.save({"state_dict": ibot}, path("ibot_vit_p8_224.pth"))

    torch.save({"model": collections.OrderedDict(cls_token=torch.randn(1, 1, DIM) * 0.02), "config": Pwn()},
               path("malicious.pth"))
    torch.save({"model": timm_state_dict(16)}, path("patch16_vit_224.pth"))

    img = torch.randn(4, CHANS, SIZE, SIZE)
    np.save(path("input.npy"), img.numpy())
    x = img.double()
    np.save(path("features_timm.npy"), cls_features(timm, x).float().numpy())
    np.save(path("features_dino_teacher.npy"), cls_features(teacher, x).float().numpy())
    pos = resample_pos_embed(timm["pos_embed"].double(), TRAIN_SIZE // PATCH, SIZE // PATCH)
    np.save(path("resampled_pos_embed.npy"), pos.float().numpy())


def globals_of(pkl):
    """The GLOBAL opcodes' arguments of a pickle, read without running it."""
    return [arg for op, arg, _ in pickletools.genops(pkl) if op.name == "GLOBAL"]


def check():
    """Reads every file back and prints what a reader should find."""
    meta, timm = read_safetensors(path("timm_vit_p8_224.safetensors"))
    assert meta == {"format": "pt"} and len(timm) == 4 + 12 * DEPTH + 4, (meta, len(timm))
    img = torch.from_numpy(np.load(path("input.npy"))).double()
    feats = np.load(path("features_timm.npy"))
    assert np.array_equal(cls_features(timm, img).float().numpy(), feats)

    loaded = {}
    for name, want in [("dino_vit_p8_224.pth", ["student", "teacher", "optimizer", "epoch", "args", "dino_loss"]),
                       ("ibot_vit_p8_224.pth", ["state_dict"]), ("patch16_vit_224.pth", ["model"])]:
        ck = loaded[name] = torch.load(path(name), weights_only=False)
        assert list(ck) == want, (name, list(ck))
        with zipfile.ZipFile(path(name)) as z:
            pkl = next(z.read(n) for n in z.namelist() if n.endswith("/data.pkl"))
        print("%s: top-level %s; pickle globals %s" % (name, want, sorted(set(globals_of(pkl)))))
        for k, sd in ck.items():
            if isinstance(sd, dict) and all(torch.is_tensor(v) for v in sd.values()):
                print("  %s: %d tensors: %s" % (k, len(sd), ", ".join(sd)))
    dino = loaded["dino_vit_p8_224.pth"]
    teacher = {k[len("backbone."):]: v for k, v in dino["teacher"].items() if k.startswith("backbone.")}
    student = {k[len("module.backbone."):]: v for k, v in dino["student"].items() if k.startswith("module.backbone.")}
    assert set(teacher) == set(student) == set(timm) - {"head.weight", "head.bias"}
    assert all(torch.equal(student[k], timm[k]) for k in student)
    assert np.array_equal(cls_features(teacher, img).float().numpy(), np.load(path("features_dino_teacher.npy")))
    ibot = loaded["ibot_vit_p8_224.pth"]["state_dict"]
    assert all(torch.equal(ibot["backbone." + k], v) for k, v in student.items())

    # malicious.pth: plain pickle would call posix.system; torch's own
    # weights_only loader refuses it too. Neither check executes it.
    with zipfile.ZipFile(path("malicious.pth")) as z:
        names = z.namelist()
        pkl = z.read(next(n for n in names if n.endswith("/data.pkl")))
    assert "posix system" in globals_of(pkl) and b"echo pwned" in pkl, globals_of(pkl)
    print("malicious.pth: %s; pickle globals %s" % (names, globals_of(pkl)))
    try:
        torch.load(path("malicious.pth"), weights_only=True)
        raise AssertionError("torch.load(weights_only=True) accepted malicious.pth")
    except (pickle.UnpicklingError, RuntimeError) as e:
        print("  torch.load(weights_only=True) refuses it: %s" % str(e).splitlines()[-1])
    assert not os.path.exists(PWN)

    # What the features are sensitive to, for the Go test's 1e-4 tolerance.
    f32 = cls_features(timm, img.float()).numpy()
    by_size = lambda pos, src, dst: torch.cat((pos[:, :1], F.interpolate(
        pos[:, 1:].reshape(1, src, src, -1).permute(0, 3, 1, 2), size=(dst, dst), mode="bicubic",
        align_corners=False).permute(0, 2, 3, 1).reshape(1, dst * dst, -1)), dim=1)
    print("features_timm: max |f| %.3f, mean |f| %.3f; float32 forward differs by %.1e; "
          "resampling by size instead of DINO's scale factor moves them by %.1e; "
          "teacher features differ from them by %.1e" % (
              np.abs(feats).max(), np.abs(feats).mean(), np.abs(f32 - feats).max(),
              np.abs(cls_features(timm, img, by_size).numpy() - feats).max(),
              np.abs(np.load(path("features_dino_teacher.npy")) - feats).max()))
    for name in sorted(os.listdir(HERE)):
        print("%8d  %s" % (os.path.getsize(path(name)), name))


if __name__ == "__main__":
    write()
    check()
