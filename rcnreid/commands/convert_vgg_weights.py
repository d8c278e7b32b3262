"""``rcnreid convert-vgg-weights``: rewrite VGG-16 weights as a checked .npz
(:mod:`rcnreid.vgg.weights_convert`)."""
NAME = "convert-vgg-weights"
HELP = "convert VGG-16 weights (Keras .h5, .npz, Lasagne model-zoo .pkl) into a checked .npz"


def add_arguments(p):
    from rcnreid.vgg.weights_convert import LAYOUTS
    p.add_argument("src", help="Keras .h5, .npz or Lasagne .pkl VGG-16 weights")
    p.add_argument("dst", help="output .npz")
    p.add_argument("--layout", default="rcnreid", choices=LAYOUTS)


def run(args):
    import os
    from rcnreid.vgg.weights_convert import convert
    convert(os.fspath(args.src), os.fspath(args.dst), args.layout)
    return 0
