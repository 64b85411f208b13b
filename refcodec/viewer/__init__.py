"""``refcodec view FILE_OR_URL``: a local web viewer (viser draws the Gaussian splats in the
browser) that shows the scene as soon as level 1 has arrived and refines level by level as the
bytes come in (ranged reads through ``refcodec.stream``).

The panel shows bytes fetched, Gaussians shown and the level of every region; each region has a
level slider (0..L, fetching what it needs) and a visibility checkbox. Selecting an object by a
click in the view belongs to the click-prompt extraction (another module): it plugs in through
``StreamViewer.click_handler`` (see there).
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np

from refcodec.format.decode import decode
from refcodec.stream.remote import RemoteLGS

SH_C0 = 0.28209479177387814


def splat_arrays(scene) -> tuple:
    """Centres, covariances, RGB and opacities of a decoded scene, as viser takes them."""
    q = scene.rotations.astype(np.float64)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    w, x, y, z = q.T
    R = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)                                                        # (N, 3, 3)
    s2 = np.exp(2.0 * scene.scales.astype(np.float64))
    cov = np.einsum("nij,nj,nkj->nik", R, s2, R).astype(np.float32)
    rgb = np.clip(0.5 + SH_C0 * scene.sh_dc, 0.0, 1.0).astype(np.float32)
    alpha = (1.0 / (1.0 + np.exp(-scene.opacity.astype(np.float64)))).astype(np.float32)[:, None]
    return scene.positions, cov, rgb, alpha


class StreamViewer:
    """The viewer's state and its fetch/decode worker. ``start()`` opens the viser server and
    starts the worker; ``history`` records (level, Gaussians shown, bytes fetched, seconds) each
    time the scene was refined; ``shown_level`` is the highest level shown so far."""

    def __init__(self, source: str, host: str = "127.0.0.1", port: int = 8080, level: int | None = None,
                 whole_file: bool = False, verbose: bool = True, step_delay: float = 0.0):
        self.remote = RemoteLGS(source, fallback="download" if whole_file else "error")
        self.host, self.port, self.verbose = host, port, verbose
        self.max_level = level
        self.step_delay = max(0.0, float(step_delay))     # seconds between levels (a slow link)
        self.history: list = []
        self.shown_level = 0
        self.error: str | None = None
        self.changed = threading.Event()
        self.stopped = threading.Event()
        self.wake = threading.Event()                     # advance(): end a step_delay pause now
        self.lock = threading.Lock()
        # click-to-select hook: a callable (viser SceneClickEvent) -> region index or None,
        # set by the click-prompt extraction; a returned region is highlighted in the panel.
        self.click_handler = None
        self.selected_region: int | None = None

    # -- setup -------------------------------------------------------------------------------
    def start(self) -> "StreamViewer":
        import viser

        fm = self.remote.open()
        info = fm.info
        L = info.num_layers if self.max_level is None else max(0, min(self.max_level, info.num_layers))
        self.L = L
        self.auto = 0                                      # the level streamed so far
        self.target = [L] * info.num_regions               # the user's level per region
        self.visible = [True] * info.num_regions
        self.labels = [r.label for r in fm.regions]
        self.nonempty = [r for r in range(info.num_regions) if sum(fm.regions[r].counts)]
        self.server = viser.ViserServer(host=self.host, port=self.port, verbose=False)
        self.port = self.server.get_port()
        self._camera(fm)
        gui = self.server.gui
        self.status = gui.add_markdown("connecting...")
        self.sliders, self.checks, self.handles = {}, {}, {}
        with gui.add_folder("Regions"):
            for r in self.nonempty:
                with gui.add_folder(self.labels[r]):
                    s = gui.add_slider("level", min=0, max=L, step=1, initial_value=L)
                    c = gui.add_checkbox("visible", initial_value=True)
                s.on_update(self._on_level(r))
                c.on_update(self._on_visible(r))
                self.sliders[r], self.checks[r] = s, c
        self.server.scene.on_click()(self._on_click)
        self.worker = threading.Thread(target=self._run, daemon=True)
        self.worker.start()
        return self

    def _camera(self, fm) -> None:
        lo = np.array([r.bbox_min for r in fm.regions if sum(r.counts)] or [[0, 0, 0]], float).min(axis=0)
        hi = np.array([r.bbox_max for r in fm.regions if sum(r.counts)] or [[1, 1, 1]], float).max(axis=0)
        centre, radius = (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
        cam = self.server.initial_camera
        cam.up = (0.0, -1.0, 0.0)                         # INRIA / COLMAP scenes: world y points down
        cam.look_at = tuple(centre)
        cam.position = tuple(centre + radius * np.array([0.0, -0.5, -1.6]))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- callbacks (viser's threads) ---------------------------------------------------------
    def _on_level(self, r):
        def cb(_event):
            with self.lock:
                self.target[r] = int(self.sliders[r].value)
            self.changed.set()
        return cb

    def _on_visible(self, r):
        def cb(_event):
            with self.lock:
                self.visible[r] = bool(self.checks[r].value)
                h = self.handles.get(r)
            if h is not None:
                h.visible = self.visible[r]
            self._status()
        return cb

    def _on_click(self, event) -> None:
        if self.click_handler is None:
            return
        r = self.click_handler(event)
        if r is not None:
            self.select_region(int(r))

    def select_region(self, r: int) -> None:
        """Highlight region ``r`` in the panel (the click hook's target)."""
        self.selected_region = r
        self._status()

    def advance(self) -> None:
        """End the current pause between levels (see ``step_delay``) now."""
        self.wake.set()

    def set_level(self, r: int, k: int) -> None:
        """Programmatic equivalent of moving region r's slider."""
        self.sliders[r].value = k

    # -- the worker --------------------------------------------------------------------------
    def _levels(self) -> list:
        with self.lock:
            return [min(self.auto, t) for t in self.target]

    def _run(self) -> None:
        t0 = time.perf_counter()
        shown = None
        try:
            while not self.stopped.is_set():
                if self.auto < self.L:
                    if self.auto and self.step_delay:
                        self.wake.wait(self.step_delay)
                        self.wake.clear()
                    self.auto += 1                        # stream the next level
                else:
                    if shown == self._levels():
                        self.changed.wait(0.5)
                        self.changed.clear()
                        continue
                levels = self._levels()
                self.remote.fetch(levels)
                res = decode(self.remote.data, levels)
                self._show(res, levels, shown)
                shown = levels
                st = self.remote.stats()
                self.shown_level = max(self.shown_level, self.auto)
                self.history.append((self.auto, int(res.scene.n), st.bytes_fetched, time.perf_counter() - t0))
                self._status()
                if self.verbose:
                    print(f"level {self.auto}: {res.scene.n:,} Gaussians shown, {st.line()}", file=sys.stderr)
        except Exception as e:                             # shown in the panel and on stderr, one line
            self.error = f"{type(e).__name__}: {e}"
            self._status()
            print(f"error: {self.error}", file=sys.stderr)

    def _show(self, res, levels: list, before: list | None) -> None:
        """Replace the splats of the regions whose level changed since ``before``."""
        self.counts = getattr(self, "counts", {})
        for r in self.nonempty:
            m = res.region == r
            self.counts[r] = int(m.sum())
            if before is not None and before[r] == levels[r] and r in self.handles:
                continue
            old = self.handles.pop(r, None)
            if m.any():
                c, cov, rgb, a = splat_arrays(res.scene.subset(m))
                self.handles[r] = self.server.scene.add_gaussian_splats(
                    f"/regions/{r}", centers=c, covariances=cov, rgbs=rgb, opacities=a,
                    visible=self.visible[r])
            elif old is not None:
                old.remove()

    def _status(self) -> None:
        if not hasattr(self, "status"):
            return
        st = self.remote.stats()
        counts = getattr(self, "counts", {})
        shown = sum(n for r, n in counts.items() if self.visible[r])
        levels = self._levels()
        rows = [f"| {self.labels[r]}{' (selected)' if r == self.selected_region else ''} | "
                f"{levels[r]} | {counts.get(r, 0):,} | {'yes' if self.visible[r] else 'no'} |"
                for r in self.nonempty]
        text = [f"**{st.bytes_fetched:,}** of {st.file_size:,} bytes fetched "
                f"({100.0 * st.bytes_fetched / max(1, st.file_size):.1f}%), {st.requests} requests",
                f"**{shown:,}** Gaussians shown, level {self.auto} of {self.L} streamed", "",
                "| region | level | Gaussians | shown |", "| --- | --- | --- | --- |", *rows]
        if self.error:
            text.insert(0, f"**error:** {self.error}")
        self.status.content = "\n".join(text)

    def stop(self) -> None:
        self.stopped.set()
        self.changed.set()
        self.wake.set()
        if hasattr(self, "worker"):
            self.worker.join(10)
        if hasattr(self, "server"):
            self.server.stop()
        self.remote.close()


def run_viewer(source: str, host: str = "127.0.0.1", port: int = 8080, level: int | None = None,
               whole_file: bool = False, step_delay: float = 0.0) -> int:
    v = StreamViewer(source, host, port, level, whole_file, step_delay=step_delay).start()
    print(f"viewer at {v.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        while not v.stopped.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        v.stop()
    return 0
