/* rdap_vectors.h: golden vectors, written by rdap_vectors.js (see there) with
 * @socket.io/redis-adapter 8.3.0, @socket.io/redis-emitter 5.1.0, socket.io 4.8.4,
 * notepack.io 3.0.1. JSON messages are text, msgpack ones hex; each names the
 * channel it was published on. */
#ifndef SB_RDA_VECTORS_H
#define SB_RDA_VECTORS_H

/* socket.io#/admin# */
#define BC_ADMIN_NSP                                                                                   \
    "93a6674342424e4f83a47479706502a46461746192a361646da178a36e7370a62f61646d696e83a5726f6f6d7390a665" \
    "786365707490a5666c61677380"

/* socket.io#/# */
#define BC_ALL                                                                                         \
    "93a656614734435983a47479706502a46461746198a568656c6c6fa5776f726c642af9cb4004000000000000c3c082a1" \
    "6101a162920102a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

/* socket.io#/# */
#define BC_BINARY                                                                                      \
    "93a656614734435983a47479706502a46461746193a362696ec40301020382a66e657374656481a3627566c5012c0707" \
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707" \
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707" \
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707" \
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707" \
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707" \
    "070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707" \
    "07070707070707070707a46c69737491c4026869a36e7370a12f83a5726f6f6d7390a665786365707490a5666c616773" \
    "80"

/* socket.io#/#room1# */
#define BC_COMPRESS_VOLATILE_ROOM                                                                      \
    "93a656614734435983a47479706502a46461746191a178a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365" \
    "707490a5666c61677382a8636f6d7072657373c2a8766f6c6174696c65c3"

#define BC_DATES                                                                                       \
    "93a64458706d4a6783a47479706502a46461746199a56461746573d7ffa1a5d60065937d25d6ff00000000c70cff3b8b" \
    "87c0ffffffffffffffffc70cff000000000000003afff44180c70cff00000000fffffff184aa5080c70cff0000000000" \
    "0007dba8218000c70cff00000000fffff82457de8000d6ff6553f100a36e7370a12f83a5726f6f6d7390a66578636570" \
    "7490a5666c61677380"

#define BC_DEPTH_32                                                                                    \
    "93a64458706d4a6783a47479706502a46461746191919191919191919191919191919191919191919191919191919191" \
    "9190a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

#define BC_DEPTH_33                                                                                    \
    "93a64458706d4a6783a47479706502a46461746191919191919191919191919191919191919191919191919191919191" \
    "919190a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

/* socket.io#/admin# */
#define BC_EMITTER_ADMIN                                                                               \
    "93a7656d697474657283a47479706502a46461746192a5652d61646d01a36e7370a62f61646d696e83a5726f6f6d7390" \
    "a5666c61677380a665786365707490"

/* socket.io#/# */
#define BC_EMITTER_ALL                                                                                 \
    "93a7656d697474657283a47479706502a46461746193ac66726f6d2d656d697474657201a374776fa36e7370a12f83a5" \
    "726f6f6d7390a5666c61677380a665786365707490"

/* socket.io#/# */
#define BC_EMITTER_BINARY                                                                              \
    "93a7656d697474657283a47479706502a46461746192a5652d62696ec402deada36e7370a12f83a5726f6f6d7390a566" \
    "6c61677380a665786365707490"

/* socket.io#/#room1# */
#define BC_EMITTER_ONE_ROOM                                                                            \
    "93a7656d697474657283a47479706502a46461746192a6652d726f6f6d81a17801a36e7370a12f83a5726f6f6d7391a5" \
    "726f6f6d31a5666c61677380a665786365707490"

/* socket.io#/# */
#define BC_EMITTER_ROOMS_EXCEPT_VOLATILE                                                               \
    "93a7656d697474657283a47479706502a46461746191a7652d6d756c7469a36e7370a12f83a5726f6f6d7392a161a162" \
    "a5666c61677381a8766f6c6174696c65c3a665786365707491a163"

#define BC_EMPTY_AND_UNICODE                                                                           \
    "93a64458706d4a6783a47479706502a46461746194a165809082a8d0bad0bbd18ed187b0d0b7d0bdd0b0d187d0b5d0bd" \
    "d0b8d0b5a0a0a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

/* socket.io#/# */
#define BC_FROM_SOCKET                                                                                 \
    "93a656614734435983a47479706502a46461746192a2736201a36e7370a12f83a5726f6f6d7390a665786365707491b4" \
    "6f464c61676e735144476c707a37494141414141a5666c61677380"

/* socket.io#/# */
#define BC_KEY_ORDER                                                                                   \
    "93a656614734435983a47479706502a46461746192a46b65797384a131a36f6e65a132a374776fa16201a16102a36e73" \
    "70a12f83a5726f6f6d7390a665786365707490a5666c61677380"

#define BC_NON_FINITE                                                                                  \
    "93a64458706d4a6783a47479706502a46461746195a26e66cb7ff8000000000000cb7ff0000000000000cbfff0000000" \
    "00000000a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"

#define BC_NUMBERS                                                                                     \
    "93a64458706d4a6783a47479706502a464617461dc0020a46e756d73007fcc80ccffcd0100cdffffce00010000ceffff" \
    "ffffcf0000000100000000cf001fffffffffffffffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7f" \
    "ffffffcb3fe0000000000000cbbfd0000000000000cf1000000000000000cf8000000000000000d38000000000000000" \
    "cb3e7ad7f29abcaf48bf61616161616161616161616161616161616161616161616161616161616161d9206262626262" \
    "626262626262626262626262626262626262626262626262626262d9ff63636363636363636363636363636363636363" \
    "636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363" \
    "636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363" \
    "636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363" \
    "636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363" \
    "6363636363636363636363636363636363636363636363636363636363636363636363636363636363636363da010064" \
    "646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464" \
    "646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464" \
    "646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464" \
    "646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464" \
    "646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464646464" \
    "646464646464646464646464646464ae68c3a96c6c6f20e282acf09d849ea0a36e7370a12f83a5726f6f6d7390a66578" \
    "6365707490a5666c61677380"

/* socket.io#/# */
#define BC_NUMBERS_BEYOND_UINT64                                                                       \
    "93a656614734435983a47479706502a46461746192a3626967cf0000000000000000a36e7370a12f83a5726f6f6d7390" \
    "a665786365707490a5666c61677380"

/* socket.io#/#123# */
#define BC_NUMERIC_ROOM                                                                                \
    "93a656614734435983a47479706502a46461746191a86e756d2d726f6f6da36e7370a12f83a5726f6f6d73917ba66578" \
    "6365707490a5666c61677380"

/* socket.io#/#room1# */
#define BC_ONE_ROOM                                                                                    \
    "93a656614734435983a47479706502a46461746192a46e65777381a57469746c65a178a36e7370a12f83a5726f6f6d73" \
    "91a5726f6f6d31a665786365707490a5666c61677380"

/* socket.io#/# */
#define BC_ROOMS_EXCEPT                                                                                \
    "93a656614734435983a47479706502a46461746192a56d756c746901a36e7370a12f83a5726f6f6d7392a27231a27232" \
    "a665786365707491a27233a5666c61677380"

/* socket.io#/#xtsJB3-8HsApnIfUAAAD# */
#define BC_SOCKET_EMIT_RECOVERY                                                                        \
    "93a633376a59412d84a47479706502a46461746192a777656c636f6d65c40101a2696400a36e7370a12f83a5726f6f6d" \
    "7391b47874734a42332d38487341706e49665541414144a665786365707490a5666c61677380"

/* socket.io#/#room1# */
#define BC_SOCKET_TO_ROOM                                                                              \
    "93a656614734435983a47479706502a46461746192a2737201a36e7370a12f83a5726f6f6d7391a5726f6f6d31a66578" \
    "6365707491b46f464c61676e735144476c707a37494141414141a5666c61677380"

/* socket.io#/# */
#define BC_VOLATILE                                                                                    \
    "93a656614734435983a47479706502a46461746192a47469636b01a36e7370a12f83a5726f6f6d7390a6657863657074" \
    "90a5666c61677381a8766f6c6174696c65c3"

/* socket.io-request#/# */
#define REQ_ALL_ROOMS "{\"uid\":\"VaG4CY\",\"requestId\":\"tmb0f6\",\"type\":1}"

/* socket.io-request#/# */
#define REQ_BROADCAST                                                                                  \
    "85a3756964a6566147344359a9726571756573744964a6583956416365a47479706507a67061636b657483a474797065" \
    "02a46461746192a661636b2d6d6507a36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a5666c616773" \
    "81a774696d656f7574cd07d0"

/* socket.io-request#/# */
#define REQ_BROADCAST_BINARY                                                                           \
    "85a3756964a6566147344359a9726571756573744964a66b4c53446133a47479706507a67061636b657483a474797065" \
    "02a46461746192a761636b2d62696ec403050607a36e7370a12fa46f70747383a5726f6f6d7391a5726f6f6d31a66578" \
    "6365707490a5666c61677381a774696d656f7574cd07d0"

/* socket.io-request#/# */
#define REQ_EMITTER_DISCONNECT                                                                     \
    "{\"type\":4,\"opts\":{\"rooms\":[\"nobody\"],\"except\":[]},\"close\":true}"

/* socket.io-request#/# */
#define REQ_EMITTER_JOIN "{\"type\":2,\"opts\":{\"rooms\":[],\"except\":[]},\"rooms\":[\"ej\"]}"

/* socket.io-request#/# */
#define REQ_EMITTER_LEAVE                                                                          \
    "{\"type\":3,\"opts\":{\"rooms\":[\"room1\"],\"except\":[]},\"rooms\":[\"ej\",\"ek\"]}"

/* socket.io-request#/# */
#define REQ_EMITTER_SERVER_SIDE_EMIT                                                               \
    "{\"uid\":\"emitter\",\"type\":6,\"data\":[\"from-emitter\",1]}"

/* socket.io-request#/# */
#define REQ_REMOTE_DISCONNECT                                                                      \
    "{\"uid\":\"VaG4CY\",\"type\":4,\"opts\":{\"rooms\":[\"nobody\"],\"except\":[]},\"close\":false}"

/* socket.io-request#/# */
#define REQ_REMOTE_FETCH                                                                           \
    "{\"uid\":\"VaG4CY\",\"requestId\":\"PIa5bn\",\"type\":5,\"opts\":{\"rooms\":[],\"except\":[]}}"

/* socket.io-request#/# */
#define REQ_REMOTE_JOIN                                                                            \
    "{\"uid\":\"VaG4CY\",\"type\":2,\"opts\":{\"rooms\":[\"room1\"],\"except\":[]},\"rooms\":[\"j1\",\"j2\"]}"

/* socket.io-request#/# */
#define REQ_REMOTE_JOIN_ONE                                                                        \
    "{\"uid\":\"crafted\",\"requestId\":\"req-join\",\"type\":2,\"sid\":\"-hAOb92PYk3YNqaXAAAB\",\"room\":\"legacy\"}"

/* socket.io-request#/# */
#define REQ_REMOTE_LEAVE                                                                           \
    "{\"uid\":\"VaG4CY\",\"type\":3,\"opts\":{\"rooms\":[],\"except\":[\"room2\"]},\"rooms\":[\"j2\"]}"

/* socket.io-request#/# */
#define REQ_REMOTE_LEAVE_ONE                                                                       \
    "{\"uid\":\"crafted\",\"requestId\":\"req-leave\",\"type\":3,\"sid\":\"-hAOb92PYk3YNqaXAAAB\",\"room\":\"legacy\"}"

/* socket.io-request#/# */
#define REQ_SERVER_SIDE_EMIT "{\"uid\":\"VaG4CY\",\"type\":6,\"data\":[\"hello\",1,\"two\"]}"

/* socket.io-request#/# */
#define REQ_SERVER_SIDE_EMIT_ACK                                                                   \
    "{\"uid\":\"VaG4CY\",\"requestId\":\"PwiVqw\",\"type\":6,\"data\":[\"ping\",5]}"

/* socket.io-request#/# */
#define REQ_SOCKETS                                                                                \
    "{\"uid\":\"crafted\",\"requestId\":\"req-sockets\",\"type\":0,\"rooms\":[\"room1\"]}"

/* socket.io-response#/#VaG4CY# */
#define RES_ALL_ROOMS "{\"requestId\":\"tmb0f6\",\"rooms\":[\"-hAOb92PYk3YNqaXAAAB\",\"room1\"]}"

/* socket.io-response#/#VaG4CY# */
#define RES_BROADCAST_ACK_BINARY                                                                   \
    "83a47479706509a9726571756573744964a6583956416365a67061636b657483a26f6bc3a16e07a3627566c4020908"

/* socket.io-response#/#VaG4CY# */
#define RES_BROADCAST_ACK_NUMBER "83a47479706509a9726571756573744964a66b4c53446133a67061636b657403"

/* socket.io-response#/# */
#define RES_BROADCAST_ACK_STRING                                                                   \
    "83a47479706509a9726571756573744964a6583956416365a67061636b6574a466696e65"

/* socket.io-response#/#VaG4CY# */
#define RES_BROADCAST_CLIENT_COUNT "{\"type\":8,\"requestId\":\"X9VAce\",\"clientCount\":1}"

/* socket.io-response#/# */
#define RES_BROADCAST_CLIENT_COUNT_ZERO "{\"type\":8,\"requestId\":\"kLSDa3\",\"clientCount\":0}"

/* socket.io-response#/#VaG4CY# */
#define RES_REMOTE_FETCH                                                                           \
    "{\"requestId\":\"PIa5bn\",\"sockets\":[{\"id\":\"-hAOb92PYk3YNqaXAAAB\",\"handshake\":{\"headers\":{\"sec-websocket-version\":\"13\",\"sec-websocket-key\":\"j8cusbNRkVA7k1jvMGbGDw==\",\"connection\":\"Upgrade\",\"upgrade\":\"websocket\",\"sec-websocket-extensions\":\"permessage-deflate; client_max_window_bits\",\"host\":\"127.0.0.1:41841\"},\"time\":\"Sat Nov 21 2026 06:35:54 GMT+0000 (Coordinated Universal Time)\",\"address\":\"127.0.0.1\",\"xdomain\":false,\"secure\":false,\"issued\":1795242954483,\"url\":\"/socket.io/?EIO=4&transport=websocket\",\"query\":{\"EIO\":\"4\",\"transport\":\"websocket\"},\"auth\":{\"token\":\"t\"}},\"rooms\":[\"-hAOb92PYk3YNqaXAAAB\",\"room1\"],\"data\":{\"user\":\"alice\"}}]}"

/* socket.io-response#/#crafted# */
#define RES_REMOTE_JOIN_ONE "{\"requestId\":\"req-join\"}"

/* socket.io-response#/#crafted# */
#define RES_REMOTE_LEAVE_ONE "{\"requestId\":\"req-leave\"}"

/* socket.io-response#/# */
#define RES_SERVER_SIDE_EMIT "{\"type\":6,\"requestId\":\"PwiVqw\",\"data\":{\"pong\":5}}"

/* socket.io-response#/#crafted# */
#define RES_SOCKETS "{\"requestId\":\"req-sockets\",\"sockets\":[\"-hAOb92PYk3YNqaXAAAB\"]}"

/* socket.io-response#/# */
#define RES_SOCKETS_EMPTY "{\"requestId\":\"req-sockets\",\"sockets\":[]}"

#endif
