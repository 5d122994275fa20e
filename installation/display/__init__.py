"""The kiosk display: window, scenes, morph playback, captions and the status overlay.

Everything here runs in the display process, which never imports torch and
never waits on the disk, the worker or the network inside a frame: slow work
happens in `loader.ArchiveLoader` (a thread) or in the worker process and
arrives as messages that the loop picks up once per frame.
"""
