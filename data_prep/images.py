"""Frame loading for the converters: re-exported from :mod:`rcnreid.data.frames` (the library owns
it, ``data_prep`` depends on ``rcnreid`` and never the reverse)."""
from rcnreid.data.frames import (  # noqa: F401
    IMAGE_EXTENSIONS, RAW_WH, RESIZE_METHOD, STORED_HW, frame_number, frame_problem, is_image_name,
    list_frames, load_rgb, new_counter)
