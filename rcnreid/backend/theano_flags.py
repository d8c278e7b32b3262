"""The Theano flags the user set (``THEANO_FLAGS`` and the ``.theanorc`` files Theano reads),
read without importing Theano: :mod:`rcnreid.backend.theano_config` adds its defaults only for keys
not among them, and :func:`rcnreid.backend.gpu_conv.float_arithmetic` reports from them.

>>> import os
>>> old = os.environ.get("THEANO_FLAGS")
>>> os.environ["THEANO_FLAGS"] = "device=cuda0, dnn.conv.algo_fwd=time_once"
>>> f = user_theano_flags(rc_files=[])
>>> f["device"], f["dnn__conv__algo_fwd"]
('cuda0', 'time_once')
>>> _ = os.environ.pop("THEANO_FLAGS") if old is None else os.environ.update(THEANO_FLAGS=old)
"""
import configparser
import os


def normalise_key(key):
    """Theano accepts ``dnn.conv.algo_fwd`` and ``dnn__conv__algo_fwd`` alike."""
    return key.strip().replace(".", "__")


def rc_files():
    """The .theanorc files Theano reads: ``THEANORC`` (a path list) or the two default names."""
    rc_env = os.environ.get("THEANORC")
    if rc_env:
        return rc_env.split(os.pathsep)
    return [os.path.expanduser("~/.theanorc"), os.path.expanduser("~/.theanorc.txt")]


def user_theano_flags(warnings=None, rc_files=rc_files):
    """``{key: value}`` the user set in ``.theanorc`` and ``THEANO_FLAGS`` (which wins). A
    ``.theanorc`` that does not parse is skipped with a note appended to ``warnings`` (Theano
    complains about it itself)."""
    found = {}
    files = rc_files() if callable(rc_files) else rc_files
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep 'floatX' as written
    try:
        parser.read([os.path.expanduser(f) for f in files])
    except configparser.Error as exc:
        if warnings is not None:
            warnings.append("could not parse .theanorc: %s" % exc)
    for section in parser.sections():
        for option, value in parser.items(section):
            key = option if section == "global" else "%s__%s" % (section, option)
            found[normalise_key(key)] = value
    for item in os.environ.get("THEANO_FLAGS", "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            found[normalise_key(k)] = v.strip()
    return found
