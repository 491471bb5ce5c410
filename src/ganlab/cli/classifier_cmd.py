"""`ganlab classifier --data digits|FILE.npz --out PATH.safetensors`: train the small domain classifier.

Its penultimate layer is the feature map of domain FID / KID / precision-recall and its softmax the
p(y|x) of a domain Inception Score (`ganlab eval --extractor digits`, or `--extractor classifier
--classifier-weights PATH` for your own). Writes PATH and PATH with .json (test accuracy, SHA-256,
split, settings, the command). The shipped `assets/digits_classifier.safetensors` was made with
`ganlab classifier --data digits --out src/ganlab/assets/digits_classifier.safetensors`.
"""

from __future__ import annotations

import argparse
import shlex

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganlab.metrics.classifier import TrainSettings

    d = TrainSettings()
    parser.add_argument("--data", required=True, help="'digits' (bundled 8x8) or an .npz with x (N,H,W)|(N,1,H,W) and y (N,)")
    parser.add_argument("--out", required=True, help="output weights, .safetensors (a .json is written beside it)")
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"training epochs (default {d.epochs})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"minibatch size (default {d.batch_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of init, split and shuffling (default {d.seed})")
    parser.add_argument(
        "--test-fraction", type=float, default=d.test_fraction,
        help=f"stratified held-out fraction (default {d.test_fraction})",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, for reproducible weights)")


def run(args: argparse.Namespace) -> int:
    from ganlab.data.images import digits_split, load_digits_images, load_labelled_npz
    from ganlab.metrics.classifier import TrainSettings, save_classifier, train_classifier

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if not str(args.out).endswith(".safetensors"):
        raise ValueError(f"--out must end in .safetensors, got {args.out!r}")
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, test_fraction=args.test_fraction
    )
    if args.data == "digits":
        images, labels = load_digits_images()
    else:
        images, labels = load_labelled_npz(args.data)
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"the classifier takes square images, got {images.shape[2]}x{images.shape[3]}")
    train_idx, test_idx = digits_split(labels, test_fraction=settings.test_fraction, seed=settings.seed)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        model, info = train_classifier(images, labels, train_idx, test_idx, settings=settings, progress=True)
    finally:
        torch.set_num_threads(old_threads)
    info["data"] = args.data
    info["split"] = (
        f"stratified sklearn train_test_split(test_size={settings.test_fraction}, random_state={settings.seed})"
    )
    info["command"] = "ganlab classifier " + " ".join(
        shlex.quote(a) for a in ["--data", args.data, "--out", str(args.out), "--epochs", str(args.epochs),
                                 "--seed", str(args.seed), "--test-fraction", str(args.test_fraction),
                                 "--threads", str(args.threads)]
    )
    record = save_classifier(model, args.out, info=info)
    print(
        f"classifier: {info['n_train']} train / {info['n_test']} test images, test accuracy "
        f"{info['test_accuracy']:.4f} (train {info['train_accuracy']:.4f}), {info['seconds']} s on "
        f"{args.threads} thread(s)\nwrote {args.out} (sha256 {record['sha256']})"
    )
    return 0
