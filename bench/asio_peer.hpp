// SPDX-License-Identifier: MIT
// bench/asio_peer.hpp — Asio for bench/async_bench.cpp: standalone Asio (<asio.hpp>,
// FEV_BENCH_ASIO_STANDALONE=1) where it is installed, else Boost.Asio, both under the
// alias fev_bench::net, with the channels, use_awaitable and use_future.
#pragma once

#if FEV_BENCH_ASIO_STANDALONE
#include <asio.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_future.hpp>
#include <asio/version.hpp>

namespace fev_bench {
namespace net = ::asio;
using NetErrorCode = ::asio::error_code;
inline constexpr const char* kAsioFlavour = "standalone Asio";
inline constexpr int kAsioVersion = ASIO_VERSION;
}  // namespace fev_bench
#else
#include <boost/asio.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/version.hpp>

namespace fev_bench {
namespace net = ::boost::asio;
using NetErrorCode = ::boost::system::error_code;
inline constexpr const char* kAsioFlavour = "Boost.Asio";
inline constexpr int kAsioVersion = BOOST_ASIO_VERSION;
}  // namespace fev_bench
#endif
