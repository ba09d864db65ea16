"""``lp3d info``: what a store (or a netCDF file) holds, without reading its arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lp3d_cli.console import print_table
from lp3d_cli.errors import UserError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["run_info", "describe"]

_ATTRS = ("session", "smoother", "source_software", "fps", "lp3d_cli_version")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def describe(name: str, ds: xr.Dataset) -> list:
    """What one dataset holds: a headline, a table of variables, and its names and attributes."""
    from rich.table import Table

    kind = ds.attrs.get("lp3d_kind", "?")
    sizes = ", ".join(f"{d}={n}" for d, n in ds.sizes.items())
    variables = Table(box=None, padding=(0, 2, 0, 2), show_header=True, header_style="bold")
    variables.add_column("variable")
    variables.add_column("dims")
    variables.add_column("dtype")
    for var_name, var in ds.data_vars.items():
        variables.add_row(str(var_name), ", ".join(str(d) for d in var.dims), str(var.dtype))
    facts = Table.grid(padding=(0, 2, 0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    for coord in ("view", "member", "keypoint", "individual"):
        if coord in ds.coords:
            values = [str(v) for v in ds[coord].values]
            facts.add_row(coord, ", ".join(values[:12]) + (f", ... ({len(values)})" if len(values) > 12 else ""))
    for attr in _ATTRS:
        if attr in ds.attrs:
            facts.add_row(attr, str(ds.attrs[attr]))
    if "source_files" in ds.attrs:
        files = ds.attrs["source_files"]
        files = [files] if isinstance(files, str) else list(files)
        facts.add_row("source_files", f"{len(files)} file(s), e.g. {Path(files[0]).name}")
    if "lp3d_options" in ds.attrs:
        options = {k: v for k, v in json.loads(ds.attrs["lp3d_options"]).items() if v is not None}
        facts.add_row("options", ", ".join(f"{k}={v}" for k, v in options.items()))
    return [f"{name}  ({kind}: {sizes})", variables, facts]


def run_info(path: Path) -> None:
    """Prints what ``path`` (a store or a ``.nc`` file) holds."""
    if not path.exists():
        raise UserError(f"STORE {path}: no such store or file")
    print_table(f"{path}  ({_human(_size(path))})")
    if path.is_file():
        if path.suffix != ".nc":
            raise UserError(f"STORE {path}: expected a store (.zarr folder) or a netCDF file (.nc), but got a file")
        from lp3d_io.netcdf import from_netcdf

        for part in describe(path.name, from_netcdf(path, lazy=True)):
            print_table(part)
        return
    from lp3d_io.store import list_groups, open_store, read_group

    store = open_store(path, "r")
    groups = list_groups(store)
    print_table(f"session {store.session or '(unnamed)'}, store format {store.format_version}, {len(groups)} group(s)")
    for group in groups:
        for part in describe(group, read_group(store, group)):
            print_table(part)
