/* mock_listen.c: the mocks' listener (mock_listen.h). */
#include "mock/mock_listen.h"

#include <arpa/inet.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define LISTEN_BACKLOG 1024

static bw_err listener_port(struct evconnlistener *lev, int *port) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    BW_ENSURE(getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&ss, &sl) == 0, BW_E_IO);
    if (ss.ss_family == AF_INET)
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        return BW_E_IO;
    return BW_OK;
}

bw_err bw_mock_listen(struct event_base *base, struct evhttp *http, const char *host, int port,
                      int reuse_port, int *bound) {
    char port_text[8];
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    BW_ENSURE(port >= 0 && port <= 65535, BW_E_INVALID);
    snprintf(port_text, sizeof port_text, "%d", port);
    BW_ENSURE(getaddrinfo(host, port_text, &hints, &res) == 0, BW_E_INVALID);
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
                     (reuse_port ? LEV_OPT_REUSEABLE_PORT : 0);
    struct evconnlistener *lev = NULL;
    for (struct addrinfo *ai = res; ai && !lev; ai = ai->ai_next)
        lev = evconnlistener_new_bind(base, NULL, NULL, flags, LISTEN_BACKLOG, ai->ai_addr,
                                      (int)ai->ai_addrlen);
    freeaddrinfo(res);
    BW_ENSURE(lev, BW_E_IO);
    if (!evhttp_bind_listener(http, lev)) {
        evconnlistener_free(lev);
        return BW_E_IO;
    }
    return listener_port(lev, bound);
}
