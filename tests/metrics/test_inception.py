"""The FID Inception-v3: key layout of pytorch-fid's weight file, TF quirks, hash-checked loading, batch independence.

No real weights are downloaded: every test builds random weights (seeded, scaled so activations stay O(1)
through the 94 convolutions), saves them to a temporary file and loads that file the way a user's
pt_inception-2015-12-05-6726825d.pth would be loaded.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlab.metrics import inception as inc
from ganlab.metrics.features import get_extractor
from ganlab.metrics.inception import (
    FID_WEIGHTS_FILENAME,
    InceptionV3,
    build_inception,
    load_inception_state_dict,
    no_tf32,
    preprocess_for_inception,
    randomized_inception,
    resize_bilinear_tf1,
)

# ---- the key layout, re-derived from torchvision's Inception3 (aux_logits=False, 1008 classes) ----
_A = ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool"]
_B = ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]
_C = ["branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1", "branch7x7dbl_2",
      "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool"]
_D = ["branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"]
_E = ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
      "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"]
_BLOCKS = {"Mixed_5b": _A, "Mixed_5c": _A, "Mixed_5d": _A, "Mixed_6a": _B, "Mixed_6b": _C, "Mixed_6c": _C,
           "Mixed_6d": _C, "Mixed_6e": _C, "Mixed_7a": _D, "Mixed_7b": _E, "Mixed_7c": _E}
_STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]
_BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def _expected_keys() -> set[str]:
    units = list(_STEM) + [f"{b}.{u}" for b, us in _BLOCKS.items() for u in us]
    keys = {f"{u}.conv.weight" for u in units} | {f"{u}.bn.{s}" for u in units for s in _BN}
    return keys | {"fc.weight", "fc.bias"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """(path, sha256, the in-memory model that was saved)."""
    model = randomized_inception(seed=0)
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, digest, model


def _images(n: int, size: int = 299, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_state_dict_keys_match_pytorch_fid_layout():
    state = InceptionV3().state_dict()
    assert set(state) == _expected_keys()
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_2.conv.weight": (192, 192, 7, 1),
        "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
        "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    # torchvision documents 27,161,264 parameters for inception_v3 (aux head, 1000 classes); its aux head holds
    # 768*128 + 2*128 + 128*768*25 + 2*768 + 768*1000 + 1000 = 3,326,696; 1008 classes add 8*2048 + 8.
    expected = 27_161_264 - 3_326_696 + 8 * 2048 + 8
    assert sum(p.numel() for p in InceptionV3().parameters()) == expected == 23_850_960


def test_bn_eps_and_no_conv_bias():
    model = InceptionV3()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(bns) == len(convs) == 94
    assert all(m.eps == 1e-3 for m in bns)
    assert all(m.bias is None for m in convs)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_tf_pooling_quirks_in_mixed_blocks(weights):
    """Mixed_5b..7b average-pool without counting the zero padding; Mixed_7c max-pools (the 2015 graph)."""
    _, _, model = weights
    captured = {}
    handles = [model.Mixed_7b.register_forward_pre_hook(lambda m, a: captured.__setitem__("7b_in", a[0].clone())),
               model.Mixed_7b.branch_pool.register_forward_pre_hook(lambda m, a: captured.__setitem__("7b_pool", a[0].clone())),
               model.Mixed_7c.branch_pool.register_forward_pre_hook(lambda m, a: captured.__setitem__("7c_pool", a[0].clone())),
               model.Mixed_7b.register_forward_hook(lambda m, a, out: captured.__setitem__("7c_in", out.clone()))]
    try:
        with torch.no_grad():
            model.pool3(_images(1, size=139) * 2 - 1)  # 139 x 139 gives 3 x 3 maps in Mixed_7b/7c: corners, edges, centre
    finally:
        for h in handles:
            h.remove()
    assert captured["7c_in"].shape[2:] == (3, 3)
    # independent average pool excluding padding: window sums / number of real pixels in the window
    x = captured["7b_in"]
    ones = torch.ones(1, 1, *x.shape[2:])
    sums = F.conv2d(F.pad(x, (1, 1, 1, 1)), torch.ones(x.shape[1], 1, 3, 3), groups=x.shape[1])
    counts = F.conv2d(F.pad(ones, (1, 1, 1, 1)), torch.ones(1, 1, 3, 3))
    torch.testing.assert_close(captured["7b_pool"], sums / counts, atol=1e-5, rtol=1e-5)
    # max pool in the last block: every output is the max over its clipped 3x3 window
    y = captured["7c_in"]
    h, w = y.shape[2:]
    ref = torch.empty_like(y)
    for i in range(h):
        for j in range(w):
            win = y[:, :, max(i - 1, 0): i + 2, max(j - 1, 0): j + 2]
            ref[:, :, i, j] = win.amax(dim=(2, 3))
    torch.testing.assert_close(captured["7c_pool"], ref, atol=0.0, rtol=0.0)


def test_corner_average_uses_real_pixels_only():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = inc._avg_pool_tf(x)
    assert float(out[0, 0, 0, 0]) == pytest.approx((0 + 1 + 4 + 5) / 4, abs=1e-12)
    assert float(out[0, 0, 1, 1]) == pytest.approx(sum([0, 1, 2, 4, 5, 6, 8, 9, 10]) / 9, abs=1e-12)


def test_load_and_extract_shapes_and_values(weights):
    path, digest, model = weights
    ext = get_extractor("inception-v3", inception_weights=path, inception_sha256=digest, batch_size=2)
    x = _images(2)
    feats, logits = ext.features_and_logits(x)
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert feats.dtype == np.float64 and logits.dtype == np.float64
    assert ext.weights_sha256 == digest and ext.dim == 2048 and ext.num_classes == 1008
    # the loaded network is the saved one: compare with the in-memory original on the same preprocessed input
    with torch.no_grad():
        ref_f, ref_l = model(2 * x - 1)  # already 299x299, so preprocessing is only 2x - 1
    np.testing.assert_allclose(feats, ref_f.double().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(logits, ref_l.double().numpy(), atol=1e-5, rtol=1e-5)
    assert feats.std() > 1e-2 and np.all(feats >= 0)  # non-degenerate, post-ReLU average


@pytest.fixture(scope="module")
def extractor(weights):
    path, digest, _ = weights
    return get_extractor("inception-v3", inception_weights=path, inception_sha256=digest)


def test_features_do_not_depend_on_batch_size(extractor, monkeypatch):
    # Eval-mode BatchNorm makes each image's features a function of that image alone, at any resolution;
    # resizing to 107 instead of 299 (2 x 2 maps in the last blocks) keeps this test ~8x cheaper on 2 CPU
    # cores and changes nothing else.
    monkeypatch.setattr(inc, "INPUT_SIZE", 107)
    x = _images(8, size=64, seed=3)
    outs = []
    for bs in (1, 3, 8):
        monkeypatch.setattr(extractor, "batch_size", bs)
        outs.append(extractor.features(x))
    assert outs[0].shape == (8, 2048) and outs[0].std() > 1e-2
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(outs[2], outs[0], atol=1e-5, rtol=0)


def test_tf32_is_off_during_extraction_and_restored(extractor, monkeypatch):
    monkeypatch.setattr(inc, "INPUT_SIZE", 75)
    ext = extractor
    seen = []
    handle = ext.model.Conv2d_1a_3x3.register_forward_pre_hook(
        lambda m, a: seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)))
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    try:
        ext.features(_images(1, size=75))
        assert seen == [(False, False)]
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with pytest.raises(RuntimeError):
            with no_tf32():
                raise RuntimeError("boom")
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        handle.remove()
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def test_file_without_num_batches_tracked_loads(weights, tmp_path):
    _, _, model = weights
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old_export.pth"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    loaded, sha = build_inception(path, sha256=digest[:8])
    assert sha == digest
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(loaded.state_dict()[k], v), k


def test_safetensors_weights_load(weights, tmp_path):
    from safetensors.torch import save_file

    _, _, model = weights
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    loaded, _ = build_inception(path, sha256=digest)
    assert torch.equal(loaded.fc.weight, model.fc.weight)


def test_missing_file_names_the_expected_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=FID_WEIGHTS_FILENAME):
        load_inception_state_dict(tmp_path / "nope.pth")


def test_no_path_and_no_env_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(ValueError, match="GANLAB_INCEPTION_WEIGHTS"):
        load_inception_state_dict(None)


def test_env_variable_gives_the_path(weights, monkeypatch):
    path, digest, _ = weights
    monkeypatch.setenv("GANLAB_INCEPTION_WEIGHTS", str(path))
    state, sha = load_inception_state_dict(None, sha256=digest)
    assert sha == digest and "fc.weight" in state


def test_hash_must_match_reference_prefix_by_default(weights):
    path, digest, _ = weights
    assert not digest.startswith("6726825d")  # random weights are not the reference file
    with pytest.raises(ValueError, match="6726825d") as info:
        load_inception_state_dict(path)
    assert FID_WEIGHTS_FILENAME in str(info.value) and digest in str(info.value)


def test_explicit_wrong_hash_is_refused(weights):
    path, digest, _ = weights
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(ValueError, match="expected"):
        load_inception_state_dict(path, sha256=wrong)
    with pytest.raises(ValueError, match="8 hex digits"):
        load_inception_state_dict(path, sha256="abc")


class _Evil:
    ran = False

    def __reduce__(self):
        return (_Evil._boom, ())

    @staticmethod
    def _boom():
        _Evil.ran = True
        return {}


def test_pickled_code_is_never_run(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"fc.weight": _Evil()}, fh)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="state dict"):
        load_inception_state_dict(path, sha256=digest)
    assert not _Evil.ran


def test_wrong_key_layout_is_refused(weights, tmp_path):
    _, _, model = weights
    state = dict(model.state_dict())
    state.pop("Mixed_6c.branch1x1.conv.weight")
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    path = tmp_path / "torchvision_like.pth"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="1 missing keys.*1 unexpected keys"):
        build_inception(path, sha256=digest)


# ---- preprocessing ----


def _tf1_reference(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 resize_bilinear (align_corners=False, half_pixel_centers=False), written as loops over output pixels."""
    in_h, in_w = img.shape
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        y = i * in_h / out_h
        y0 = int(np.floor(y)); y1 = min(y0 + 1, in_h - 1); dy = y - y0
        for j in range(out_w):
            x = j * in_w / out_w
            x0 = int(np.floor(x)); x1 = min(x0 + 1, in_w - 1); dx = x - x0
            top = img[y0, x0] * (1 - dx) + img[y0, x1] * dx
            bot = img[y1, x0] * (1 - dx) + img[y1, x1] * dx
            out[i, j] = top * (1 - dy) + bot * dy
    return out


@pytest.mark.parametrize("in_size,out_size", [((5, 7), (13, 11)), ((32, 32), (299, 299)), ((9, 6), (4, 3))])
def test_tf1_resize_matches_reference_formula(in_size, out_size):
    rng = np.random.default_rng(0)
    img = rng.random(in_size)
    got = resize_bilinear_tf1(torch.from_numpy(img)[None, None], out_size)[0, 0].numpy()
    np.testing.assert_allclose(got, _tf1_reference(img, *out_size), atol=1e-12, rtol=0)


def test_tf1_resize_integer_downsample_picks_pixels():
    x = torch.arange(64.0, dtype=torch.float64).reshape(1, 1, 8, 8)
    torch.testing.assert_close(resize_bilinear_tf1(x, (4, 4)), x[:, :, ::2, ::2], atol=0, rtol=0)


def test_preprocess_scales_to_minus_one_one_and_repeats_grey():
    x = torch.rand(2, 1, 299, 299, generator=torch.Generator().manual_seed(0))
    out = preprocess_for_inception(x)
    assert out.shape == (2, 3, 299, 299)
    for c in range(3):
        torch.testing.assert_close(out[:, c], 2 * x[:, 0] - 1, atol=0, rtol=0)
    const = torch.full((1, 3, 32, 32), 0.25)
    for mode in ("bilinear", "tf1"):
        torch.testing.assert_close(preprocess_for_inception(const, resize=mode), torch.full((1, 3, 299, 299), -0.5),
                                   atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="resize"):
        preprocess_for_inception(const, resize="area")
    with pytest.raises(ValueError, match="C in"):
        preprocess_for_inception(torch.rand(1, 2, 8, 8))
