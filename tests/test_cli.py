"""The command line is generated from the config dataclasses: one field, one option."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
from helpers import forbid

import ddim_edu.__main__ as cli
from ddim_edu.sampling import PREDICTIONS
from ddim_edu.schedule import SPACINGS
from ddim_edu.sweep import SweepConfig, load_results
from ddim_edu.train import NonFiniteLossError, TrainConfig


def parse(argv):
    args = cli.build_parser().parse_args(argv)
    return cli.config_from_args(cli.COMMANDS[args.command].options, args)


def flag(f: dataclasses.Field) -> str:
    if f.metadata.get("positional"):
        return f.metadata["metavar"]
    return ("--no-" if f.default is True else "--") + f.name.replace("_", "-")


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_field_with_help_is_an_option_in_its_commands_help(name, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([name, "--help"])
    text = capsys.readouterr().out
    fields = [f for f in dataclasses.fields(cli.COMMANDS[name].options) if "help" in f.metadata]
    assert fields
    for f in fields:
        assert re.search(re.escape(flag(f)) + r"\s", text), (name, flag(f))


def test_a_new_field_is_a_new_option_with_its_help_and_its_value():
    extended = dataclasses.make_dataclass(
        "ExtendedTrainConfig",
        [
            (
                "noise_offset",
                float,
                dataclasses.field(default=0.0, metadata={"help": "shift of the noise mean"}),
            ),
            ("ema_start", int, dataclasses.field(default=0)),  # no help: not an option
        ],
        bases=(TrainConfig,),
    )
    parser = cli.argparse.ArgumentParser(prog="train")
    cli.add_options(parser, extended)
    text = " ".join(parser.format_help().split())
    assert "--noise-offset NOISE_OFFSET shift of the noise mean (default: 0)" in text
    assert "--ema-start" not in text and "--log-every" in text
    cfg = cli.config_from_args(extended, parser.parse_args(["--noise-offset", "0.1", "--T", "50"]))
    assert cfg.noise_offset == 0.1 and cfg.T == 50 and cfg.ema_start == 0
    assert cfg.width == TrainConfig.width and cfg.out == "runs/digits"


def test_a_new_field_reaches_the_train_command(monkeypatch):
    extended = dataclasses.make_dataclass(
        "ExtendedTrainConfig",
        [("warm_start", bool, dataclasses.field(default=False, metadata={"help": "warm start"}))],
        bases=(TrainConfig,),
    )
    command = dataclasses.replace(cli.COMMANDS["train"], options=extended)
    monkeypatch.setitem(cli.COMMANDS, "train", command)
    assert parse(["train", "--warm-start", "--steps", "7"]) == extended(warm_start=True, steps=7)
    assert parse(["train"]).warm_start is False


def test_a_positional_field_is_an_argument_named_by_its_metavar():
    where = dataclasses.make_dataclass(
        "Where",
        [
            ("folder", str, dataclasses.field(metadata={"help": "a folder", "positional": True,
                                                         "metavar": "DIR"})),
            ("deep", bool, dataclasses.field(default=False, metadata={"help": "go deep"})),
        ],
    )  # fmt: skip
    parser = cli.argparse.ArgumentParser(prog="where")
    cli.add_options(parser, where)
    assert "usage: where [-h] [--deep] DIR" in parser.format_help()
    assert cli.config_from_args(where, parser.parse_args(["x", "--deep"])) == where("x", True)
    defaulted = dataclasses.make_dataclass(
        "Defaulted",
        [("folder", str, dataclasses.field(default=".", metadata={"help": "a folder",
                                                                   "positional": True}))],
    )  # fmt: skip
    with pytest.raises(TypeError, match="Defaulted.folder: a positional argument has no default"):
        cli.add_options(cli.argparse.ArgumentParser(), defaulted)


def test_help_lists_every_command_on_one_line_of_80_columns(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "notebooks" in cli.COMMANDS and max(map(len, text.splitlines())) <= 80
    listed = re.findall(r"^  (\S+) +(\S.*)$", text.split("commands:\n")[1].split("\n\n")[0], re.M)
    assert listed == [(name, command.help) for name, command in cli.COMMANDS.items()]
    subparsers = cli.build_parser()._subparsers._group_actions[0].choices
    for name in cli.COMMANDS:  # and each command's own --help opens with more than its line
        assert (
            subparsers[name].description and subparsers[name].prog == f"python -m ddim_edu {name}"
        )


def test_a_field_without_a_command_line_form_is_refused_by_name():
    odd = dataclasses.make_dataclass(
        "Odd", [("table", dict, dataclasses.field(default=None, metadata={"help": "a dict"}))]
    )
    with pytest.raises(TypeError, match=r"Odd.table: no command-line form for <class 'dict'>"):
        cli.add_options(cli.argparse.ArgumentParser(), odd)


def test_options_parse_into_the_configs_with_the_dataclass_defaults():
    assert parse(["train"]) == TrainConfig()
    cfg = parse(["train", "--data", "data/shapes", "--no-attention", "--flip", "--channels", "3"])
    assert cfg.out == "runs/shapes" and cfg.attention is False and cfg.flip and cfg.channels == 3
    cfg = parse(["train", "--channel-mults", "1,2,4", "--log-every", "7", "--init-from", "mnist"])
    assert cfg.channel_mults == (1, 2, 4) and cfg.log_every == 7 and cfg.init_from == "mnist"
    assert parse(["sweep"]) == SweepConfig()
    cfg = parse(["sweep", "--run-dir", "r", "--etas", "0,0.5,sigma_hat", "--steps", "5,10"])
    assert cfg.etas == (0.0, 0.5, "sigma_hat") and cfg.steps == (5, 10) and cfg.model is None
    assert parse(["train-classifier", "--data", "mnist"]).out == "runs/mnist_classifier"
    assert parse(["demo", "--n", "50"]) == cli.DemoOptions(n=50)


def test_choices_come_from_the_module_constants():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, cli.argparse._SubParsersAction))
    by_flag = {
        (name, opt): action.choices
        for name, p in sub.choices.items()
        for action in p._actions
        for opt in action.option_strings
    }
    assert by_flag["train", "--prediction"] is PREDICTIONS
    assert by_flag["sweep", "--spacing"] is SPACINGS and by_flag["demo", "--spacing"] is SPACINGS


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--schedule", "quadratic"], "argument --schedule: invalid choice: 'quadratic'"),
        (["train", "--prediction", "score"], "argument --prediction: invalid choice: 'score'"),
        (["sweep", "--spacing", "even"], "argument --spacing: invalid choice: 'even'"),
        (["sweep", "--model", "digits", "--run-dir", "r"], "not allowed with argument --model"),
        (["train", "--channel-mults", "1,x"], "argument --channel-mults: expected comma-separated"),
    ],
)
def test_a_bad_value_is_refused_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.build_parser().parse_args(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_input_errors_become_one_line_and_exit_code_2(capsys):
    def bad():
        raise ValueError("steps must be an integer >= 1, got 0")

    def diverged():
        raise NonFiniteLossError("loss became nan at step 5")

    assert cli.exit_code(lambda: None) == 0
    assert cli.exit_code(bad) == 2
    assert capsys.readouterr().err == "error: steps must be an integer >= 1, got 0\n"
    assert cli.exit_code(diverged) == 1
    assert capsys.readouterr().err == "error: loss became nan at step 5\n"
    assert cli.main(["train", "--steps", "0"]) == 2
    assert capsys.readouterr().err == "error: steps must be an integer >= 1, got 0\n"
    assert cli.main(["demo", "--n", "1"]) == 2
    assert capsys.readouterr().err == "error: --n must be an integer >= 2, got 1\n"


def test_sweep_config_parses_etas_and_names_bad_ones():
    assert SweepConfig(etas="0, 1,sigma_hat").etas == (0.0, 1.0, "sigma_hat")
    with pytest.raises(
        ValueError, match="--etas must be comma-separated numbers >= 0 or sigma_hat"
    ):
        SweepConfig(etas="0,fast")
    with pytest.raises(ValueError, match="give --model or --run-dir, not both"):
        SweepConfig(model="digits", run_dir="runs/digits")


def test_sweep_command_writes_a_results_file_that_load_results_reads(tmp_path, capsys):
    out = tmp_path / "grid.json"
    argv = ["sweep", "--model", "mlp_gmm", "--samples", "64", "--steps", "5,10", "--etas", "0,1"]
    argv += ["--device", "cpu", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    grid, meta = load_results(out)
    assert grid.steps == [5, 10] and grid.etas == [0.0, 1.0] and grid.metric == "sliced W2"
    assert meta["command"] == "python -m ddim_edu " + " ".join(argv) and meta["n_per_cell"] == 64
    assert json.loads(out.read_text())["grid"]["meta"]["floor_n"] == 64
    assert out.with_suffix(".png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "noise floor" in printed and f"wrote {out}" in printed


# --- bad input: one line on stderr naming the option or the file, exit code 2 -----------------------


def test_train_classifier_steps_0_is_refused_by_its_flag_at_parse_time(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"^--steps must be an integer >= 1, got 0$"):
        parse(["train-classifier", "--steps", "0"])
    out = tmp_path / "clf"
    assert cli.main(["train-classifier", "--steps", "0", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "error: --steps must be an integer >= 1, got 0\n"
    assert not out.exists()


@pytest.fixture
def no_training(monkeypatch):
    """Make the classifier's training an error: a check that passes with this fixture ran first."""
    from ddim_edu import classifier

    forbid(monkeypatch, classifier, "_splits", "the classifier's training")


def test_train_classifier_keeps_a_checkpoint_in_out_unless_overwrite(tmp_path, capsys, monkeypatch):
    victim = tmp_path / "digits_run"
    victim.mkdir()
    (victim / "checkpoint.safetensors").write_bytes(b"a denoiser's checkpoint")
    (victim / "checkpoint.json").write_text('{"step": 25000}')
    argv = ["train-classifier", "--steps", "2", "--out", str(victim), "--no-progress"]
    with monkeypatch.context() as m:
        m.setattr("ddim_edu.classifier._splits", lambda data: pytest.fail("training started"))
        assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {str(victim)!r} already holds a checkpoint (checkpoint.safetensors, "
        "checkpoint.json); pass overwrite=True (--overwrite) to replace it, or choose another "
        "folder (--out)\n"
    )
    assert (victim / "checkpoint.safetensors").read_bytes() == b"a denoiser's checkpoint"
    assert (victim / "checkpoint.json").read_text() == '{"step": 25000}'
    assert cli.main([*argv, "--overwrite"]) == 0
    assert json.loads((victim / "checkpoint.json").read_text())["step"] == 2


@pytest.mark.parametrize(
    "command", [["train-classifier", "--no-progress"], ["make-shapes", "--n", "2"]]
)
def test_an_out_folder_that_is_a_file_is_refused_before_any_work(
    command, tmp_path, capsys, no_training
):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    assert cli.main([*command, "--out", str(victim)]) == 2
    assert capsys.readouterr().err == f"error: --out {str(victim)!r} is a file, not a folder\n"
    assert victim.read_text() == "keep" and list(tmp_path.iterdir()) == [victim]


def test_train_classifier_out_without_write_access_is_refused_before_training(
    tmp_path, capsys, monkeypatch, no_training
):
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)  # as in a read-only folder
    out = tmp_path / "runs" / "clf"
    assert cli.main(["train-classifier", "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {str(out)!r}: {str(tmp_path)!r} is a folder this process cannot write in\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_path_errors_are_one_line_naming_the_file_and_bugs_keep_their_traceback(tmp_path, capsys):
    import errno

    missing = tmp_path / "missing.json"
    assert cli.exit_code(lambda: missing.read_text()) == 2
    assert capsys.readouterr().err == f"error: {str(missing)!r}: No such file or directory\n"
    assert cli.exit_code(lambda: tmp_path.read_text()) == 2
    assert capsys.readouterr().err == f"error: {str(tmp_path)!r}: Is a directory\n"

    def disk_full():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "grid.json"))

    assert cli.exit_code(disk_full) == 1
    assert capsys.readouterr().err == (
        f"error: {str(tmp_path / 'grid.json')!r}: No space left on device\n"
    )
    for bug in (KeyError("schedule"), RuntimeError("shape mismatch"), TypeError("x")):

        def raising(bug=bug):
            raise bug

        with pytest.raises(type(bug)):
            cli.exit_code(raising)


# --- notebooks: copy the course's notebooks into a folder ------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENT = sorted((ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("student", [False, True], ids=["instructor", "student"])
def test_notebooks_copies_the_course_into_a_new_folder(student, tmp_path, capsys):
    folder = tmp_path / "a" / "course"  # two levels that do not exist yet
    sources = STUDENT if student else INSTRUCTOR
    assert cli.main(["notebooks", *(["--student"] if student else []), str(folder)]) == 0
    assert sorted(folder.iterdir()) == [folder / p.name for p in sources] and len(sources) >= 8
    assert all((folder / p.name).read_bytes() == p.read_bytes() for p in sources)
    lines = capsys.readouterr().out.splitlines()
    assert lines[: len(sources)] == [f"wrote {folder / p.name}" for p in sources]
    kind = "student" if student else "instructor"
    assert f"{len(sources)} {kind} notebooks from {sources[0].parent} in {folder}" in lines
    assert lines[-1] == f"open them with: jupyter lab {folder}"


def test_notebooks_keeps_existing_files_unless_force(tmp_path, capsys):
    mine = tmp_path / STUDENT[1].name
    mine.write_text("my answers")
    argv = ["notebooks", "--student", str(tmp_path)]
    assert cli.main(argv) == 2
    assert capsys.readouterr() == (
        "",
        f"error: {str(mine)!r} exists; pass force=True (--force) to replace it, or choose "
        "another folder\n",
    )
    assert list(tmp_path.iterdir()) == [mine] and mine.read_text() == "my answers"
    assert cli.main([*argv, "--force"]) == 0
    assert mine.read_bytes() == STUDENT[1].read_bytes() and len(list(tmp_path.iterdir())) == 8
    assert cli.main(argv) == 2
    assert f"(and {len(STUDENT) - 1} more of the notebooks); pass force=True (--force) to " \
        "replace them" in capsys.readouterr().err  # fmt: skip


def test_notebooks_checks_the_folder_before_copying_anything(tmp_path, capsys, monkeypatch):
    from ddim_edu import course

    forbid(monkeypatch, course, "write_atomic", "copying")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    assert cli.main(["notebooks", str(victim)]) == 2
    assert capsys.readouterr().err == f"error: DIR {str(victim)!r} is a file, not a folder\n"
    assert cli.main(["notebooks", str(victim / "course")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "course" / INSTRUCTOR[-1].name).mkdir(parents=True)  # in the way, last in line
    assert cli.main(["notebooks", "--force", str(tmp_path / "course")]) == 2
    assert capsys.readouterr().err == (
        f"error: DIR {str(tmp_path / 'course')!r}: {str(tmp_path / 'course' / INSTRUCTOR[-1].name)!r}"
        " is a folder, not a file\n"
    )
    assert victim.read_text() == "keep" and sorted(tmp_path.rglob("*.ipynb")) == [
        tmp_path / "course" / INSTRUCTOR[-1].name
    ]
    with pytest.raises(SystemExit) as stop:  # DIR is required
        cli.build_parser().parse_args(["notebooks", "--student"])
    assert stop.value.code == 2
    assert "the following arguments are required: DIR" in capsys.readouterr().err


def test_notebooks_names_what_the_notebooks_need_when_it_is_missing(tmp_path, capsys, monkeypatch):
    from ddim_edu import course

    monkeypatch.setattr(course, "missing_requirements", lambda: ["jupyterlab>=4", "sympy>=1.12"])
    assert cli.main(["notebooks", "--student", str(tmp_path)]) == 0
    assert (
        'to run them, install JupyterLab and what they use: pip install "jupyterlab>=4" '
        '"sympy>=1.12"' in capsys.readouterr().out
    )
