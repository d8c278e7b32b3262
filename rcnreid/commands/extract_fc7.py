"""``rcnreid extract-fc7``: per-frame VGG-16 fc7 features of a dataset (Section 5.3;
rcnreid.vgg.fc7)."""
NAME = "extract-fc7"
HELP = ("write the VGG-16 fc7 vector of every frame of a dataset to HDF5 (input of the FC-GRU, "
        "run config fc_gru)")


def add_arguments(p):
    from rcnreid.vgg.vgg16 import FC6_MODES
    p.add_argument("--data", required=True, help="dataset HDF5 file (rcnreid prepare)")
    p.add_argument("--weights", required=True,
                   help="VGG-16 weights (.npz from finetune-vgg, Keras .h5 or .npz)")
    p.add_argument("--out", default=None,
                   help="features file (default: DATA.fc7.h5 beside the dataset, where the "
                        "fc_gru configuration looks)")
    p.add_argument("--fc6-mode", default=None, choices=FC6_MODES,
                   help="how fc6 meets the frames (default: the weights file's, else resize "
                        "to 224x224)")
    p.add_argument("--batch", type=int, default=32, help="frames per forward pass")
    p.add_argument("--no-mirror", action="store_true",
                   help="do not also store the features of the mirrored frames")


def run(args):
    import sys
    from rcnreid.errors import UserError
    from rcnreid.vgg.fc7 import extract_fc7
    if args.batch < 1:
        raise UserError("--batch %d: must be >= 1" % args.batch)
    path = extract_fc7(args.data, args.weights, args.out, fc6_mode=args.fc6_mode, batch=args.batch,
                       mirror=not args.no_mirror,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    print(path)
    return 0
