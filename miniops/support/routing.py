from django.urls import path

from miniops.support.consumers import AgentConsumer, MemberConsumer

#: Members authenticate with their token (first frame) or a ticket, so their socket
#: needs no Origin check (mini-programs send none); agents use the console session.
member_urlpatterns = [path("ws/support/member/", MemberConsumer.as_asgi())]
agent_urlpatterns = [path("ws/support/agent/", AgentConsumer.as_asgi())]
