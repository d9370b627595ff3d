"""Assertions and small data sets several test modules share."""


def assert_drawn(path, min_pixels: int = 200) -> None:
    """``path`` is a PNG figure with something drawn on it: it decodes, is at least ``min_pixels`` on each
    side, and is not one flat colour (a figure whose plotting failed silently is often a blank canvas)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", path
        grey = np.asarray(image.convert("L"), dtype=float)
    assert min(grey.shape) >= min_pixels, (path, grey.shape)
    assert grey.std() > 5 and len(np.unique(grey)) > 16, f"{path} looks blank"


def png(width: int, height: int, value: int = 80) -> bytes:
    """A flat grey PNG of ``width`` x ``height`` pixels, as an upload's body (the server decodes only its header
    before refusing a size)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), value).save(buffer, "PNG")
    return buffer.getvalue()


def v2_without_manifest(root, n_per_class=16, slices=4, size=48):
    """A small V2 set as Kaggle ships it: no manifest, so subjects come from similarity."""
    from alzmri.data import synthetic

    root = synthetic.generate_dataset(root, n_per_class=n_per_class, size=size, slices=slices, balance="equal",
                                      progress=False)
    (root / synthetic.MANIFEST).unlink()
    return root
