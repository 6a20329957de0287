"""Pictures for TensorBoard and test.py: labelled image grids and the confusion matrix.

Drawn with torchvision's make_grid and Pillow's ImageDraw, both already needed,
so no plotting library is added. Each picture is returned as an (H, W, 3) uint8 array.
"""
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

TILE = 96        # 32x32 images shown 3x larger
CAPTION = 28     # pixels of text under each tile
PER_ROW = 8      # tiles in a row of a grid
RIGHT, WRONG, UNKNOWN = (0, 150, 0), (210, 0, 0), (0, 0, 0)


def font(size=11):
    return ImageFont.load_default(size)


def image_grid(images, labels, classes, preds=None, probs=None):
    """Images (uint8, or floats in [0,1]) in a grid, PER_ROW to a row, each captioned with the
    predicted class and probability when `preds` is given (green when right, red when wrong; black
    without labels, as for images of one's own, which may be either), and with its true class too
    when `labels` is; without `preds`, as TensorBoard's batch of augmented training images,
    uncaptioned."""
    if len(images) == 0:  # e.g. no mistakes to show
        canvas = Image.new("RGB", (TILE * 2, TILE // 2), "white")
        ImageDraw.Draw(canvas).text((6, 6), "no images to show", fill=(0, 0, 0), font=font())
        return np.asarray(canvas)
    x = images.detach().cpu()
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float().clamp(0, 1)
    x = F.interpolate(x, size=(TILE, TILE), mode="nearest")
    caption = CAPTION if preds is not None else 0
    x = F.pad(x, (0, 0, 0, caption), value=1.0)  # white band for the caption
    from torchvision.utils import make_grid  # (here: data.IMAGE_EXTENSIONS says why)
    grid = make_grid(x, nrow=PER_ROW, padding=2, pad_value=1.0)
    canvas = Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    if not caption:
        return np.asarray(canvas)
    draw, small = ImageDraw.Draw(canvas), font()
    for i in range(len(x)):
        left = 2 + (i % PER_ROW) * (TILE + 2)
        top = 2 + (i // PER_ROW) * (TILE + CAPTION + 2) + TILE
        colour = UNKNOWN if labels is None else RIGHT if preds[i] == labels[i] else WRONG
        text = f"{classes[preds[i]]} {probs[i]:.2f}"
        draw.text((left + 2, top + 1), text, fill=colour, font=small)
        if labels is not None:
            draw.text((left + 2, top + 14), f"true: {classes[labels[i]]}", fill=(90, 90, 90), font=small)
        if colour == WRONG:
            draw.rectangle([left - 1, top - TILE - 1, left + TILE, top + CAPTION - 1], outline=WRONG, width=2)
    return np.asarray(canvas)


def confusion_image(confusion, classes, size=1760):
    """The confusion matrix (rows: true class, columns: predicted) as a labelled heat map, cells of
    at most 44 pixels and at most about `size` pixels a side for any number of classes up to `size`
    (526 for CIFAR-10's 10; one pixel a class beyond `size`; without that bound, 300 classes made a
    picture of 530 MB): counts and names are written where the cells can hold them."""
    counts = confusion.cpu().numpy()
    n = len(classes)
    cell = max(1, min(44, size // n))
    share = counts / counts.sum(1, keepdims=True).clip(min=1)
    shade = (255 * (1 - share)).astype(np.uint8)
    full, diagonal = np.full_like(shade, 255), np.eye(n, dtype=bool)
    # Blue on the diagonal (right), red elsewhere (mistakes), the deeper the larger the row's share.
    heat = np.stack([np.where(diagonal, shade, full), shade, np.where(diagonal, full, shade)], axis=-1)
    margin = 84 if cell >= 12 else 36
    canvas = Image.new("RGB", (margin + n * cell + 2, margin + n * cell + 2), "white")
    canvas.paste(Image.fromarray(heat.repeat(cell, 0).repeat(cell, 1)), (margin, margin))
    draw, small = ImageDraw.Draw(canvas), font()
    if cell >= 8:
        for i in range(n + 1):
            draw.line([margin + i * cell, margin, margin + i * cell, margin + n * cell], fill=(200, 200, 200))
            draw.line([margin, margin + i * cell, margin + n * cell, margin + i * cell], fill=(200, 200, 200))
    if cell >= 28:  # room for a count of four digits
        for r in range(n):
            for c in range(n):
                ink = "white" if share[r, c] > 0.6 else "black"
                draw.text((margin + c * cell + 4, margin + r * cell + cell // 2 - 6), str(counts[r, c]), fill=ink,
                          font=small)
    if cell >= 12:  # room for a line of text
        for i, name in enumerate(classes):
            draw.text((2, margin + i * cell + cell // 2 - 6), name[:12], fill="black", font=small)
            label = Image.new("RGB", (margin - 4, 14), "white")
            ImageDraw.Draw(label).text((0, 0), name[:12], fill="black", font=small)
            canvas.paste(label.rotate(90, expand=True), (margin + i * cell + cell // 2 - 7, 2))
    draw.text((2, 2), "rows: true", fill=(90, 90, 90), font=small)
    draw.text((2, 16), "columns: predicted", fill=(90, 90, 90), font=small)
    return np.asarray(canvas)
