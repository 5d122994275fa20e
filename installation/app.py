"""The kiosk application: one loop that reads input, runs the scenes and draws them.

`App` owns the command bus (`app.bus`), the shared state (`app.board`) and the
worker client (`app.worker`, None when the worker part is missing or turned
off). It also holds the services (`app.services`: objects with `start()` and `stop()`, such
as the OSC server and the camera feed, started before the loop and stopped
after it) and the per-frame hooks (`app.on_frame`: callables taking the frame
time in seconds, called once per frame).

Each frame: read pygame events, drain commands, poll the worker, the loader
and the morph frames, update the scene, draw, flip and tick. Nothing in a frame
waits on the disk, the worker, the camera or the network.

Keys (names from the [display] and [visitor] settings):
  visitor button (space)  make a child of the image on screen
  right / left            next / previous image
  w / t / l               genealogy walk / family tree / live camera scene
  s                       status overlay on or off
  p                       pause or resume the walk
  Ctrl+q                  quit
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Callable

import cv2
import pygame

from installation import commands as cmd
from installation.config import Settings
from installation.display.blend import Blender
from installation.display.captions import Captions
from installation.display.genealogy import Genealogy
from installation.display.loader import ArchiveLoader
from installation.display.morphs import MorphPlayer, ThreadMorphs, WorkerMorphs
from installation.display.scenes import GeneratingScene, LiveScene, Scene, WalkScene, ease
from installation.display.status import FrameStats, Notice, StatusOverlay
from installation.display.stills import Stills
from installation.display.tree import TreeScene
from installation.display.window import key_code, open_window, return_big_blocks_to_system
from installation.logs import RateLimitedLog
from installation.state import KioskState, StateBoard
from installation.texts import LANGUAGES, Texts, load_catalog

log = logging.getLogger(__name__)


class App:
    """The kiosk; see the module docstring. Build, `start()`, `run()`, and `stop()`."""

    def __init__(self, settings: Settings, archive_dir: Path | str | None = None, *,
                 size: tuple[int, int] | None = None, use_worker: bool = True):
        self.archive_dir = Path(archive_dir) if archive_dir is not None else settings.archive_dir()
        if self.archive_dir.resolve() != settings.archive_dir().resolve():
            # The worker opens the archive named in the settings, so they must name this one.
            archive = dataclasses.replace(settings.archive, path=str(self.archive_dir.resolve()))
            settings = dataclasses.replace(settings, archive=archive)
        self.settings = settings
        self.requested_size = size
        self.board = StateBoard(KioskState(language=settings.general.language))
        # Artist commands from the network are checked by `bus.trust`, which the OSC server sets.
        self.bus = cmd.CommandBus(visitor_per_minute=settings.visitor.per_minute)
        self.worker = _make_worker(settings, self.board) if use_worker else None
        self.services: list = []
        self.on_frame: list[Callable[[float], None]] = []
        self.camera = None  # the CameraFeed, when the camera service is added
        self.opening = None  # an OpeningWatch; while it reports closed, the screen shows `closed_screen`
        self.closed_screen = None
        self.disk_guard = None  # a DiskGuard; while it is paused, no new images or photos are started
        self.frame_limit: int | None = None  # `run()` stops after this many frames when set

        self.texts = Texts(settings.general.language)
        self.background = tuple(settings.display.background[:3])
        self.node_id: int | None = None
        self.genealogy: Genealogy | None = None
        self.paused = False
        self.blackout = False
        self.time_scale = 1.0
        self.show_status = False
        self.running = False
        self.now = 0.0
        self.last_work_s = 0.0
        self.stats = FrameStats()
        self.visitor_made: dict[int, float] = {}  # node id -> when it was made for a visitor
        self.jobs_done = 0  # worker jobs finished since start, for the status line
        self._visitor_job: str | None = None
        self._visitor_waiting: cmd.Generate | None = None
        self._jobs: dict[str, str] = {}  # worker job id -> purpose
        self._loaded: dict[str, list] = {}
        self._last_frame_at: float | None = None
        self._refresh_at = 0.0
        self._demo_asked = False
        self._was_open = True
        self._training_after_hours: list[tuple[int, str]] = []  # (node id, network) held until closing
        self._repeats = RateLimitedLog(log)

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Open the window, start the loader, the worker and the services."""
        display = self.settings.display
        if not return_big_blocks_to_system():
            log.info("could not fix the C library's mapping threshold; memory may grow as the heap fragments")
        # OpenCV runs here only on the loader's thread and the live camera's frames: one core is
        # enough, and a pool of helper threads would take the other core from the loop mid-frame.
        cv2.setNumThreads(1)
        self.screen = open_window(display, self.requested_size)
        self.screen_size = self.screen.get_size()
        self.keys = self._read_keys()
        self.loader = ArchiveLoader(self.archive_dir, self.settings.archive)
        self.loader.start()
        self.stills = Stills(self.loader, self.screen_size)
        self.morphs = MorphPlayer(self.screen_size, display)
        if self.worker is not None:
            self.worker.start()
            self.morphs.use(WorkerMorphs(self.worker))
        else:
            self.morphs.use(ThreadMorphs(self.archive_dir, self.settings.archive, self.morphs.ring))
        self.captions = Captions(self.screen_size, round(display.caption_px * self.screen_size[1] / 1080),
                                 self._languages(), self.settings.general.artist)
        self.notice = Notice(self.screen_size[1])
        self.status = StatusOverlay(self.screen_size[1])
        self.scenes: dict[str, Scene] = {scene.name: scene for scene in (
            WalkScene(self), GeneratingScene(self), TreeScene(self), LiveScene(self))}
        self.scenes["generating"].prepare()
        self.scene = self.scenes["walk"]
        self._fade: tuple[float, Scene, Scene] | None = None  # start time, from, to
        # Screen-size surfaces are made here, once: a new one costs a frame its page faults.
        self.morphs.blender.prepare(self.screen)
        # Fades have a blender of their own, so a scene drawn into the fade's still keeps its blend.
        self._fade_blender = Blender(self.screen_size, self.background)
        self._fade_blender.prepare(self.screen)
        self._fade_still = pygame.Surface(self.screen_size, 0, self.screen)  # the scene shown during half a fade
        self._fade_blank = pygame.Surface(self.screen_size, 0, self.screen)
        self._fade_blank.fill(self.background)
        for language in LANGUAGES:
            load_catalog(language)  # parsed now rather than in the frame that first needs it
        self._fade_drawn: tuple[float, str] | None = None  # (fade start, scene) drawn into _fade_still
        self.clock = pygame.time.Clock()
        self.now = time.monotonic()
        self.loader.request("nodes")
        for service in self.services:
            service.start()
            log.info("service %s started", type(service).__name__)
        self.running = True
        log.info("kiosk started: %dx%d at %d fps, archive %s", *self.screen_size, display.fps, self.archive_dir)

    def stop(self) -> None:
        """Stop the services, the worker and the loader, and close the window."""
        for service in reversed(self.services):
            try:
                service.stop()
                log.info("service %s stopped", type(service).__name__)
            except Exception as error:  # one failing service must not keep the others running
                log.error("service %s failed to stop: %s", type(service).__name__, error)
        if self.worker is not None:
            self.worker.stop()
        if hasattr(self, "morphs"):
            self.morphs.close()
        if hasattr(self, "stills"):
            self.stills.close()
        if hasattr(self, "loader"):
            self.loader.stop()
        pygame.display.quit()
        self.running = False
        log.info("kiosk stopped")

    def run(self, max_frames: int | None = None) -> int:
        """Run the loop until quit (or for `max_frames` frames); return the exit status."""
        frames = 0
        max_frames = max_frames if max_frames is not None else self.frame_limit
        while self.running and (max_frames is None or frames < max_frames):
            self.step()
            frames += 1
        return 0

    # --- one frame -----------------------------------------------------------------------

    def step(self) -> None:
        """Run one frame: input, messages, update, draw, flip, tick."""
        started = time.perf_counter()
        now = time.monotonic()
        dt = 0.0 if self._last_frame_at is None else min(now - self._last_frame_at, 0.25)
        self._last_frame_at = now
        self.now = now

        for event in pygame.event.get():
            self._handle_event(event)
        for command in self.bus.drain():
            self.handle(command)
        self._poll_worker()
        self._poll_loader(now)
        self.morphs.poll()

        if self._is_open():
            self._update(now, dt)
            self._draw(now)
            fps = self.settings.display.fps
        else:
            self._draw_closed()
            fps = self.settings.schedule.closed_fps
        self.last_work_s = time.perf_counter() - started
        pygame.display.flip()
        self.clock.tick(fps)

        frame_time = time.perf_counter() - started
        self.stats.add(frame_time, self.last_work_s)
        for hook in self.on_frame:
            hook(frame_time)

    def _is_open(self) -> bool:
        if self.opening is None:
            return True
        is_open = self.opening.update()
        if is_open == self._was_open:
            return is_open
        self._was_open = is_open
        # While closed, the screen may sleep if the settings allow it.
        pygame.display.set_allow_screensaver(not is_open and self.settings.schedule.allow_screensaver)
        self.board.update(blackout=not is_open)
        if not is_open:
            held, self._training_after_hours = self._training_after_hours, []
            for node_id, network in held:
                self._train(node_id, network)
        return is_open

    def _draw_closed(self) -> None:
        if self.closed_screen is not None:
            self.closed_screen.draw(self.screen)
        else:
            self.screen.fill((0, 0, 0))

    def _update(self, now: float, dt: float) -> None:
        self.scene.update(now, dt)
        if self._fade is not None and now - self._fade[0] >= self.settings.display.transition_s:
            self._fade = None
        if int(now * 2) != int((now - dt) * 2):
            self.board.update(fps=round(self.stats.fps, 1))

    def _draw(self, now: float) -> None:
        if self.blackout:
            self.screen.fill((0, 0, 0))
            return
        if self._fade is not None:
            self._draw_fade(now)
        else:
            self.scene.draw(self.screen)
        self.notice.draw(self.screen, now)
        if self.show_status:
            self.status.draw(self.screen, self.status_lines(), now)

    def _fade_amount(self, now: float) -> float:
        """Return how far the scene change has darkened the screen: 0 to 1 and back, eased."""
        if self._fade is None:
            return 0.0
        x = (now - self._fade[0]) / self.settings.display.transition_s
        return ease(1.0 - abs(2.0 * x - 1.0))

    def _draw_fade(self, now: float) -> None:
        """Draw the scene change: the old scene fades to the background, then the new one in.

        Each half shows a still of its scene, drawn once, so the blend can be
        composed a strip per frame like a morph's.
        """
        started, old, new = self._fade
        second_half = now - started >= self.settings.display.transition_s / 2
        scene = new if second_half else old
        if self._fade_drawn != (started, scene.name):
            scene.draw(self._fade_still)
            self._fade_drawn = (started, scene.name)
        self._fade_blender.draw(self.screen, self._fade_blank, self._fade_still, 1.0 - self._fade_amount(now),
                                ("fade", started, scene.name), 0)

    # --- input ---------------------------------------------------------------------------

    def _read_keys(self) -> dict[int, Callable[[bool], cmd.Command | None]]:
        display, visitor = self.settings.display, self.settings.visitor
        button = cmd.Source("button")
        bindings = {
            ("visitor.button_key", visitor.button_key): lambda ctrl: cmd.Generate(source=button),
            ("display.key_next", display.key_next): lambda ctrl: cmd.Next(),
            ("display.key_previous", display.key_previous): lambda ctrl: cmd.Previous(),
            ("display.key_walk", display.key_walk): lambda ctrl: cmd.ShowScene("walk"),
            ("display.key_tree", display.key_tree): lambda ctrl: cmd.ShowScene("tree"),
            ("display.key_live", display.key_live): lambda ctrl: cmd.ShowScene("live"),
            ("display.key_status", display.key_status): lambda ctrl: cmd.ToggleStatus(),
            ("display.key_pause", display.key_pause): lambda ctrl: cmd.Pause(),
            ("display.key_quit", display.key_quit): lambda ctrl: cmd.Quit() if ctrl else None,
        }
        return {key_code(setting, name): make for (setting, name), make in bindings.items()}

    def _handle_event(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.handle(cmd.Quit())
            return
        if event.type != pygame.KEYDOWN or event.key not in self.keys:
            return
        command = self.keys[event.key](bool(event.mod & pygame.KMOD_CTRL))
        if command is None:
            return
        verdict = self.bus.submit(command)
        if not verdict.accepted and isinstance(command, cmd.Generate):
            self.say("display.too_many_requests", seconds=4.0)

    # --- commands ------------------------------------------------------------------------

    def handle(self, command: cmd.Command) -> None:
        """Carry out one command from the bus."""
        log.debug("command %s from %s", command, command.source.sender)
        walk = self.scenes["walk"]
        match command:
            case cmd.Generate():
                self._generate(command)
            case cmd.Next():
                if self.genealogy is not None:
                    self._show_walk()
                    walk.jump(self.genealogy.next_of(walk.target or self.node_id), self._quick_morph_s())
            case cmd.Previous():
                if self.genealogy is not None:
                    self._show_walk()
                    walk.jump(self.genealogy.previous_of(walk.target or self.node_id), self._quick_morph_s())
            case cmd.Select(node_id=node_id):
                if self.genealogy is not None and node_id in self.genealogy:
                    walk.jump(node_id, self._quick_morph_s())
                else:
                    self.say("errors.node_not_found", node_id=node_id)
            case cmd.ShowScene(name=name):
                self.show_scene(name)
            case cmd.ToggleStatus():
                self.show_status = not self.show_status
            case cmd.Pause(paused=paused):
                self.paused = (not self.paused) if paused is None else paused
                self.board.update(paused=self.paused)
                self.say("display.paused" if self.paused else "display.resumed", seconds=2.0)
            case cmd.Speed(value=value):
                # 0 is a quarter of the normal pace, 0.5 the normal pace, 1 four times it.
                self.time_scale = 4.0 ** (2.0 * min(max(value, 0.0), 1.0) - 1.0)
            case cmd.Blackout(on=on):
                self._set_blackout(on)
            case cmd.Choose(node_id=node_id, chosen=chosen):
                self.loader.request("flag", (node_id, "chosen", chosen))
            case cmd.Hide(node_id=node_id, hidden=hidden):
                self.loader.request("flag", (node_id, "hidden", hidden))
            case cmd.Title(node_id=node_id, text=text):
                self.loader.request("title", (node_id, text))
            case cmd.Language(code=code):
                self._set_language(code)
            case cmd.Capture():
                self._capture(command)
            case cmd.Train(node_id=node_id, network=network):
                self._train(node_id, network)
            case cmd.Quit():
                log.info("quit requested from %s", command.source.sender)
                self.running = False
            case _:
                log.warning("command %s has no handler in the display", type(command).__name__)

    def _quick_morph_s(self) -> float:
        return max(1.0, self.settings.display.morph_s / 3)

    def show_scene(self, name: str, fade: bool = True) -> None:
        """Fade to the scene called `name` ("walk", "tree", "live" or "generating")."""
        scene = self.scenes.get(name)
        if scene is None:
            log.warning("no scene called %r", name)
            return
        if scene is self.scene:
            return
        self._fade = (self.now, self.scene, scene) if fade else None
        self.scene = scene
        scene.enter()
        self.board.update(scene=name)
        log.info("scene %s", name)

    def _show_walk(self) -> None:
        if self.scene.name in ("tree", "live"):
            return  # the tree follows the node on screen; the live scene stays
        self.show_scene("walk")

    def show_node(self, node_id: int | None) -> None:
        """Make `node_id` the node on screen and publish it on the state board."""
        self.node_id = node_id
        node = self.genealogy.node(node_id) if self.genealogy is not None and node_id is not None else None
        if node is not None:
            self.board.update(node_id=node.id, node_title=node.title, node_generation=node.generation,
                              node_kind=node.kind)

    def _set_blackout(self, on: bool) -> None:
        self.blackout = on
        self.board.update(blackout=on)
        # While blank, the screen may sleep if the opening hours allow it.
        pygame.display.set_allow_screensaver(on and self.settings.schedule.allow_screensaver)
        log.info("blackout %s", "on" if on else "off")

    def _set_language(self, code: str) -> None:
        try:
            self.texts = Texts(code)
        except ValueError:
            log.warning("language %r is not available", code)
            return
        self.captions.set_languages(self._languages())
        self.board.update(language=code)

    def _languages(self) -> tuple[str, ...]:
        second = self.settings.general.second_language
        primary = self.texts.language
        return (primary, second) if second and second != primary else (primary,)

    def disk_paused(self) -> bool:
        """Return True, with a notice, while the disk guard holds back new images and photos."""
        guard = self.disk_guard
        if guard is None or not guard.paused:
            return False
        self.say("ops.disk_paused", free_mb=guard.free_mb, pause_mb=guard.settings.pause_below_mb)
        return True

    def _capture(self, command: cmd.Capture) -> None:
        if self.disk_paused():
            return
        request = getattr(self.camera, "request_capture", None)
        if request is None:
            self.say("display.capture_unavailable")
            return
        request(command.parent_id)

    def _train(self, node_id: int, network: str) -> None:
        if self.disk_paused():
            return
        if self.worker is None:
            self.say("display.no_worker")
            return
        if self.opening is not None and self._was_open and self.settings.schedule.train_when_closed:
            self._training_after_hours.append((node_id, network))
            log.info("training of node %d with %s held until closing time", node_id, network)
            self.say("ops.training_held", node_id=node_id, network=network)
            return
        from installation.jobs import Job, Priority

        # Training runs for hours; the visitor's and the artist's jobs pre-empt it.
        job_id = self.worker.submit(Job("train", {"node_id": node_id, "network": network}, Priority.BACKGROUND))
        self._jobs[job_id] = "train"
        self.say("display.training", node_id=node_id, network=network)

    # --- the visitor's button ------------------------------------------------------------

    def _generate(self, command: cmd.Generate) -> None:
        if self.disk_paused():
            return
        if self.worker is None:
            self.say("display.no_worker")
            return
        if self._visitor_job is not None:
            # At most one more request waits; later presses are only acknowledged.
            if self._visitor_waiting is None:
                self._visitor_waiting = command
                self.say("display.request_queued")
            else:
                self.say("display.request_busy")
            return
        parent = command.node_id if command.node_id is not None else self.node_id
        if parent is None:
            self.say("display.empty")
            return
        from installation.jobs import Job, Priority

        params = {"node_id": parent, "count": command.count,
                  "network": command.network or self.settings.visitor.network, "seed": command.seed}
        if command.vary_from is not None:
            params["vary_from"] = command.vary_from
        self._visitor_job = self.worker.submit(Job("generate", params, Priority.VISITOR))
        self._jobs[self._visitor_job] = "visitor"
        log.info("visitor child of node %d requested (job %s)", parent, self._visitor_job)
        self.scenes["generating"].begin(parent, self.now)
        self.show_scene("generating")
        self.say("display.request_started")

    def generation_shown(self, child_id: int | None) -> None:
        """Called by the generating scene when it is done: back to the walk, at the child."""
        if child_id is not None:
            self.show_node(child_id)
            self.scenes["walk"].phase_start = self.scenes["walk"].clock
        self.show_scene("walk")
        if self._visitor_waiting is not None and self._visitor_job is None:
            waiting, self._visitor_waiting = self._visitor_waiting, None
            self._generate(waiting)

    def has_node(self, node_id: int) -> bool:
        """Return whether image `node_id` is in the archive as last loaded; True until it is loaded.

        Called from other threads (the OSC server): it only reads the current genealogy.
        """
        genealogy = self.genealogy
        return genealogy is None or node_id in genealogy

    def is_visitor_made(self, node_id: int) -> bool:
        made = self.visitor_made.get(node_id)
        return made is not None and self.now - made < self.settings.display.visitor_caption_s

    # --- messages from the worker and the loader ------------------------------------------

    def _poll_worker(self) -> None:
        if self.worker is None:
            return
        from installation import jobs

        for event in self.worker.poll():
            match event:
                case jobs.JobProgress(job_id=job_id, fraction=fraction, preview=preview):
                    if job_id == self._visitor_job:
                        self.scenes["generating"].progress(fraction, preview, self.now)
                    self.board.update(progress=round(fraction, 3))
                case jobs.JobDone(job_id=job_id, result=result):
                    self._job_done(job_id, result)
                case jobs.JobFailed(job_id=job_id, reason=reason):
                    self._job_failed(job_id, reason)
                case jobs.WorkerRestarted(reason=reason):
                    log.warning("worker restarted: %s", reason)
                    self.morphs.reset_in_flight()
                    if self._visitor_job is not None:
                        self._job_failed(self._visitor_job, reason)
        self.board.update(queue=self.worker.queue_length)

    def _job_done(self, job_id: str, result: dict) -> None:
        self.jobs_done += 1
        purpose = self._jobs.pop(job_id, "morph")
        self.morphs.finished(job_id)
        if purpose == "visitor":
            self._visitor_job = None
            children = result.get("node_ids") or []
            if children:
                self.visitor_made[children[0]] = self.now
                self.scenes["generating"].child_ready(children[0], self.now)
            else:
                self.scenes["generating"].failed("no child", self.now)
        if purpose in ("visitor", "demo", "train"):
            self.loader.request("nodes")
            self.stills.forget_failures()

    def _job_failed(self, job_id: str, reason: str) -> None:
        purpose = self._jobs.pop(job_id, "morph")
        self.morphs.finished(job_id)
        if reason != "cancelled":
            log.warning("job %s (%s) failed: %s", job_id, purpose, reason)
            self.board.update(last_error=f"{purpose}: {reason}")
        if purpose == "visitor":
            self._visitor_job = None
            self.scenes["generating"].failed(reason, self.now)

    def _poll_loader(self, now: float) -> None:
        if now >= self._refresh_at:
            self._refresh_at = now + self.settings.display.refresh_s
            self.loader.request("nodes")
        self.stills.poll()
        for loaded in self.loader.results(limit=1):
            if loaded.kind == "nodes" and loaded.value is not None:
                self._set_nodes(loaded.value)
            elif loaded.kind == "still":
                self.stills.add(loaded)
            elif loaded.kind in ("flag", "title"):
                if loaded.error:
                    self.board.update(last_error=loaded.error)
                self.loader.request("nodes")
            else:
                self._loaded.setdefault(loaded.kind, []).append(loaded)
            if loaded.error:
                self._repeats.log(logging.WARNING, loaded.kind, "loading %s failed: %s", loaded.kind, loaded.error)

    def take_loaded(self, kind: str) -> list:
        """Return and forget the finished loader requests of `kind` that no one else took."""
        return self._loaded.pop(kind, [])

    def _set_nodes(self, nodes) -> None:
        genealogy = Genealogy(nodes)
        previous = self.genealogy
        if previous is not None and [n for n in previous.all_nodes.values()] == nodes:
            return
        self.genealogy = genealogy
        if self.node_id is not None:
            self.show_node(self.node_id)
        self._ask_demo_children(nodes)

    def _ask_demo_children(self, nodes) -> None:
        """On an archive with only the demo painting, ask the worker for a few children of it."""
        if self._demo_asked or self.worker is None or len(nodes) != 1 or not nodes[0].demo:
            return
        self._demo_asked = True
        from installation.jobs import Job, Priority

        for number in range(self.settings.display.demo_children):
            params = {"node_id": nodes[0].id, "count": 1, "network": self.settings.visitor.network,
                      "seed": number}
            self._jobs[self.worker.submit(Job("generate", params, Priority.BACKGROUND))] = "demo"
        log.info("asked the worker for %d children of the demo painting", self.settings.display.demo_children)

    # --- drawing helpers used by the scenes -----------------------------------------------

    def draw_caption(self, screen: pygame.Surface, node_id: int | None, alpha: float) -> None:
        if not self.settings.display.captions or node_id is None or alpha <= 0 or self.genealogy is None:
            return
        node = self.genealogy.node(node_id)
        if node is None:
            return
        panel = self.captions.panel(node, self.is_visitor_made(node_id))
        self.captions.draw(screen, panel, round(255 * min(alpha, 1.0)))

    def draw_message(self, screen: pygame.Surface, key: str, **params) -> None:
        """Draw a centred message in the configured languages, for states such as "no camera"."""
        panel = self.captions.message(key, params)
        screen.blit(panel, panel.get_rect(center=screen.get_rect().center))

    def say(self, key: str, seconds: float = 4.0, **params) -> None:
        """Show a short notice in the configured languages and log it."""
        log.info("notice %s %s", key, params)
        lines = [Texts(language)(key, **params) for language in self._languages()]
        self.notice.show(lines, self.now, seconds)

    def status_lines(self) -> list[str]:
        state, _ = self.board.snapshot()
        stats = self.stats
        return [
            f"fps {stats.fps:5.1f}   frame p50 {stats.median_ms():5.1f} ms   p99 "
            f"{stats.percentile_ms('frame', 99):5.1f} ms   work p99 {stats.percentile_ms('work', 99):5.1f} ms",
            f"scene {self.scene.name}   node {self.node_id}   paused {self.paused}",
            f"worker {state.worker if self.worker is not None else 'not installed'}   queue {state.queue}"
            f"   progress {state.progress:.0%}",
            f"camera {state.camera}   frames received {self.morphs.frames_received}",
            f"last error: {state.last_error or '-'}",
        ]


def _make_worker(settings: Settings, board: StateBoard):
    """Return a WorkerClient, or None when the worker part is not installed."""
    try:
        from installation.worker import WorkerClient
    except ImportError as error:
        log.warning("no worker process (%s); morphs are rendered in a thread and the button is off", error)
        return None
    return WorkerClient(settings, board)
