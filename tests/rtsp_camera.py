"""An RTSP camera on loopback, as IP cameras serve one: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, run by the *system* Python, which has the GObject bindings)
streaming a folder of JPEG frames in a loop as RTP/JPEG, optionally behind basic auth.

    /usr/bin/python3 tests/rtsp_camera.py FRAMES_DIR FPS [USER:PASSWORD]

Prints the port it bound (a free one) on its first line, then serves until killed.
Standalone on purpose: the system Python has none of the project's packages.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    frames, fps = sys.argv[1], int(float(sys.argv[2]))
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")  # a free port, never a fixed one
    factory = GstRtspServer.RTSPMediaFactory()
    # Decoded and encoded again: rtpjpegpay needs the frame size in its caps (jpegparse would
    # give it, but it is in plugins-bad; everything here is in plugins-good).
    factory.set_launch(f"( multifilesrc location={frames}/%05d.jpg loop=true "
                       f"caps=image/jpeg,framerate={fps}/1 ! jpegdec ! jpegenc "
                       "! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    if len(sys.argv) > 3:
        user, password = sys.argv[3].split(":", 1)
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role_from_structure(Gst.Structure.from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        factory.set_permissions(perms)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
