"""The interactive track explorer behind ``omnimotion view``: a local page on which a click on any pixel of
any frame draws that point's track through the video (``session``: the answers; ``server``: HTTP and the
page's static files; ``loading``: targets -> session content; ``app``: the command's body)."""
