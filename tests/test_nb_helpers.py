"""ddim_edu.nb: where notebook figures go, and that saving one never leaves a broken file."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from ddim_edu import nb  # noqa: E402


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setattr(nb, "figures_dir", lambda: tmp_path)
    return tmp_path


def test_a_saved_figure_is_a_png_and_leaves_no_partial_file(figures):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = nb.save_figure(fig, "line")
    plt.close(fig)
    assert path == figures / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in figures.iterdir()] == ["line.png"]


def test_a_failed_save_keeps_the_figure_that_was_there(figures, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    good = nb.save_figure(fig, "line").read_bytes()

    def broken(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(type(fig), "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        nb.save_figure(fig, "line")
    plt.close(fig)
    assert (figures / "line.png").read_bytes() == good
    assert [p.name for p in figures.iterdir()] == ["line.png"]
