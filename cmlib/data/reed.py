"""Reed et al. ("Learning deep representations of fine-grained visual descriptions", CVPR 2016) text files as
used by CLAREL (Oreshkin et al., CVPRW 2020, Section 4): ``text_c10/<class>/<image>.txt`` with 10 sentences per
image. Reed's ``sent_splits.mat`` has the layout of xlsa17's ``att_splits.mat`` and is read there
(:func:`cmlib.data.xlsa17.load_sent_splits`), which also joins the sentences to the xlsa17 features.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_sentences", "read_text_c10"]


def read_sentences(path: str | Path) -> list[str]:
    """The sentences of one ``text_c10`` file (CRLF tolerated, surrounding whitespace stripped, empty lines kept
    as empty sentences so that every image keeps its count).

    Raises:
        FileNotFoundError: naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: sentence file not found")
    lines = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return [ln.strip() for ln in lines]


def read_text_c10(text_root: str | Path, image_files: list[str], per_image: int = 10) -> list[list[str]]:
    """Sentences of every image, in ``image_files`` order.

    Args:
        text_root: the ``text_c10`` folder.
        image_files: ``<class>/<image>.jpg`` paths (xlsa17 ``image_files`` after ``images/``).
        per_image: sentences kept per image (Reed: 10); files with fewer are padded by repeating their sentences.

    Raises:
        FileNotFoundError: naming the image whose sentence file is missing.
        ValueError: an image's file holds no sentence at all.
    """
    root = Path(text_root)
    out = []
    for image in image_files:
        rel = Path(image).with_suffix(".txt")
        path = root / rel.parent.name / rel.name
        if not path.is_file():
            raise FileNotFoundError(f"image {image}: its sentence file {path} is missing")
        sents = read_sentences(path)
        if not sents:
            raise ValueError(f"image {image}: {path} holds no sentence")
        out.append([sents[i % len(sents)] for i in range(per_image)])
    return out
