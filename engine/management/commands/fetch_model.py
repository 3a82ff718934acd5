from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from engine import model_files
from engine.model_files import ModelFileError


class Command(BaseCommand):
    help = (
        "Assemble the embedded default model from its registry parts into var/models/, verify size and "
        "sha256, and print its path. With --path, check an existing GGUF file instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", help="Use this existing GGUF file instead of the embedded default.")
        parser.add_argument("--sha256", help="With --path: refuse the file unless it has this sha256.")
        parser.add_argument("--force", action="store_true", help="Rebuild the default model file even if present.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = self._use_path(options) if options["path"] else self._fetch_default(force=options["force"])
        except ModelFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))

    def _use_path(self, options: dict[str, Any]) -> Path:
        path = model_files.gguf_check(path=Path(options["path"]).expanduser(), sha256=options["sha256"])
        self.stderr.write(f"Using {path}. Set ENGINE_MODEL_PATH={path} for the server and the engine.")
        return path

    def _fetch_default(self, *, force: bool) -> Path:
        spec = model_files.DEFAULT_MODEL
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
        parts = model_files.model_part_paths(spec=spec)
        with self._bar(spec.size, "assembling") as bar:
            return model_files.model_assemble(parts=parts, target=target, spec=spec, progress=bar.update)

    def _bar(self, total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=self.stderr._out, leave=True)
