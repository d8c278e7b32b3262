"""``rcnreid finetune-vgg``: fine-tune VGG-16 on VIPeR (Section 5.3; rcnreid.vgg.finetune)."""
NAME = "finetune-vgg"
HELP = ("fine-tune ImageNet VGG-16 weights on VIPeR identities (resumable with --resume); "
        "writes OUT/vgg16-finetuned.npz")


def add_arguments(p):
    from rcnreid.commands.options import add_run_folder_options
    from rcnreid.vgg.finetune import FINETUNE_PROFILES
    from rcnreid.vgg.vgg16 import FC6_MODES
    p.add_argument("--viper", required=True, help="VIPeR HDF5 file (rcnreid prepare viper)")
    p.add_argument("--weights", required=True,
                   help="VGG-16 weights: Keras vgg16_weights_tf_dim_ordering_tf_kernels.h5 or "
                        ".npz (docs/REPRODUCTION.md §6)")
    p.add_argument("--profile", default="paper", choices=sorted(FINETUNE_PROFILES),
                   help="fine-tuning schedule (default paper)")
    p.add_argument("--fc6-mode", default=None, choices=FC6_MODES,
                   help="how fc6 meets the input (default: the weights file's, else resize)")
    p.add_argument("--people", default=None, choices=("all", "train"),
                   help="VIPeR people to train on (default all)")
    p.add_argument("--checkpoint-every-s", type=float, default=None, metavar="S",
                   help="seconds between checkpoints (0: every epoch; default: the profile's, "
                        "300 for paper); a stop signal and the run's end always write one")
    p.add_argument("--no-prefetch", action="store_true",
                   help="prepare each mini-batch's crops in the training loop, not in the "
                        "background (same results)")
    add_run_folder_options(p, "run folder (checkpoints, log, result)")


def run(args):
    import dataclasses
    from rcnreid.vgg.finetune import finetune, get_finetune_config
    cfg = get_finetune_config(args.profile)
    changes = {k: v for k, v in (("epochs", args.epochs), ("people", args.people),
                                 ("checkpoint_every_s", args.checkpoint_every_s),
                                 ("prefetch", False if args.no_prefetch else None))
               if v is not None}
    if changes:
        cfg = dataclasses.replace(cfg, **changes)
    path = finetune(args.viper, args.weights, args.out, cfg, resume=args.resume, seed=args.seed,
                    max_epochs=args.stop_after, fc6_mode=args.fc6_mode, wait=args.wait)
    print(path)
    return 0
