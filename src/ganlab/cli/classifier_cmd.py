"""`ganlab classifier --data digits|mnist|fashion-mnist|FILE.npz --out PATH.safetensors`: train a domain classifier.

Its penultimate layer is the feature map of domain FID / KID / precision-recall and its softmax the
p(y|x) of a domain Inception Score (`ganlab eval --extractor digits`, or `--extractor classifier
--classifier-weights PATH` for your own). Writes PATH and PATH with .json (test accuracy, SHA-256,
split, settings, the command). The shipped classifiers in `assets/` were made by the command recorded in
their JSON files (docs/EVALUATION.md lists them): `digits` on a stratified 50/50 split of the 1797 digits,
`mnist` and `fashion-mnist` on their data sets' own train/test splits (`ganlab.data`).
"""

from __future__ import annotations

import argparse
import shlex

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganlab.metrics.classifier import LR_SCHEDULES, TrainSettings

    d = TrainSettings()
    from ganlab.metrics.classifier import ClassifierConfig

    c = ClassifierConfig()
    parser.add_argument("--data", required=True, help="'digits' (bundled 8x8), 'mnist' or 'fashion-mnist' (their own "
                        "train/test splits), or an .npz with x (N,H,W)|(N,1,H,W) and y (N,)")
    parser.add_argument("--out", required=True, help="output weights, .safetensors (a .json is written beside it)")
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"training epochs (default {d.epochs})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"minibatch size (default {d.batch_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of init, split and shuffling (default {d.seed})")
    parser.add_argument(
        "--test-fraction", type=float, default=d.test_fraction,
        help=f"stratified held-out fraction (default {d.test_fraction})",
    )
    parser.add_argument("--schedule", choices=LR_SCHEDULES, default=d.schedule,
                        help=f"learning-rate schedule over training: constant, or cosine decay to 0 (default {d.schedule})")
    parser.add_argument("--hflip", action="store_true",
                        help="mirror training images left-right at random (mirror-symmetric classes, e.g. garments)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, for reproducible weights)")
    parser.add_argument("--c1", type=int, default=c.c1, help=f"channels of the first conv layer (default {c.c1})")
    parser.add_argument("--c2", type=int, default=c.c2, help=f"channels of the other conv layers (default {c.c2})")
    parser.add_argument("--feature-dim", type=int, default=c.feature_dim,
                        help=f"width of the penultimate layer, the feature dimension (default {c.feature_dim})")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ganlab.data.images import digits_split, load_digits_images, load_labelled_npz
    from ganlab.metrics.classifier import ClassifierConfig, TrainSettings, save_classifier, train_classifier

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if not str(args.out).endswith(".safetensors"):
        raise ValueError(f"--out must end in .safetensors, got {args.out!r}")
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, test_fraction=args.test_fraction,
        schedule=args.schedule, hflip=args.hflip,
    )
    split = (f"stratified sklearn train_test_split(test_size={settings.test_fraction}, "
             f"random_state={settings.seed})")
    if args.data in ("mnist", "fashion-mnist"):
        from ganlab.data import get_dataset

        ds = get_dataset(args.data)
        images = torch.cat([ds.images, ds.test_images]).float() / 255.0
        labels = torch.cat([ds.labels, ds.test_labels]).long()
        train_idx, test_idx = np.arange(len(ds.images)), np.arange(len(ds.images), len(images))
        split = f"the data set's own split: {len(train_idx)} train, {len(test_idx)} test ({ds.source})"
    else:
        images, labels = load_digits_images() if args.data == "digits" else load_labelled_npz(args.data)
        train_idx, test_idx = digits_split(labels, test_fraction=settings.test_fraction, seed=settings.seed)
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"the classifier takes square images, got {images.shape[2]}x{images.shape[3]}")
    config = ClassifierConfig(image_size=int(images.shape[2]), num_classes=int(labels.max()) + 1, c1=args.c1,
                              c2=args.c2, feature_dim=args.feature_dim)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        model, info = train_classifier(images, labels, train_idx, test_idx, settings=settings, config=config,
                                       progress=True)
    finally:
        torch.set_num_threads(old_threads)
    info["data"] = args.data
    info["split"] = split
    info["command"] = "ganlab classifier " + " ".join(
        shlex.quote(a) for a in ["--data", args.data, "--out", str(args.out), "--epochs", str(args.epochs),
                                 "--batch-size", str(args.batch_size), "--lr", str(args.lr),
                                 "--seed", str(args.seed), "--test-fraction", str(args.test_fraction),
                                 "--threads", str(args.threads), "--c1", str(args.c1), "--c2", str(args.c2),
                                 "--feature-dim", str(args.feature_dim)]
        + (["--schedule", args.schedule] if args.schedule != "constant" else [])
        + (["--hflip"] if args.hflip else [])
    )
    chance = 1.0 / config.num_classes
    if info["test_accuracy"] < 2 * chance:
        import sys

        print(f"warning: test accuracy {info['test_accuracy']:.4f} is near chance ({chance:.2f}): the classifier did "
              f"not learn (learning rate {args.lr}?); its features would make FID / IS meaningless", file=sys.stderr)
    record = save_classifier(model, args.out, info=info)
    print(
        f"classifier: {info['n_train']} train / {info['n_test']} test images, test accuracy "
        f"{info['test_accuracy']:.4f} (train {info['train_accuracy']:.4f}), {info['seconds']} s on "
        f"{args.threads} thread(s)\nwrote {args.out} (sha256 {record['sha256']})"
    )
    return 0
