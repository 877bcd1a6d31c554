// SPDX-License-Identifier: MIT
/*
 * rtmem.hpp - librtmem for C++17: RAII handles for a connection and a pool,
 * a std::pmr::memory_resource over a pool, and a plain allocator for
 * containers. Header-only over the C API of rtmem.h.
 *
 *     rtmem::client c("motor");                  // throws rtmem::error
 *     rtmem::pool p(c, "control");
 *     rtmem::pool_resource res(p);
 *     std::pmr::vector<int> v(&res);             // allocates in the pool
 *     std::vector<int, rtmem::allocator<int>> w(rtmem::allocator<int>(p));
 *
 * Setup (client, pool) throws rtmem::error, whose what() is
 * rtmem_error_hint(): the cause and the fix. An allocation that finds its
 * class empty throws std::bad_alloc (that is what memory_resource and
 * allocators promise); code on the RT path that must not throw calls
 * rtmem_alloc() on p.get() itself. Deallocation never throws. Allocations
 * and frees are as RT-safe as rtmem_alloc()/rtmem_free(); a container that
 * grows still copies, so reserve() during setup.
 */
#ifndef RTMEM_RTMEM_HPP
#define RTMEM_RTMEM_HPP

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>

/* rtmem_pool_stats() is a function and a struct, as in C: -Wshadow says the
 * function hides the struct's constructor, which C++ code never calls. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include <rtmem/rtmem.h>
#pragma GCC diagnostic pop

namespace rtmem {

/* A failed setup call: code() is the -errno, what() the cause and the fix. */
class error : public std::runtime_error {
public:
	error(int call, int err, const std::string &what)
		: std::runtime_error(what + ": " + rtmem_error_hint(call, err)), err_(err)
	{
	}
	int code() const noexcept { return err_; }

private:
	int err_;
};

/* A connection to rtmemd (rtmem_connect / rtmem_disconnect). */
class client {
public:
	explicit client(const char *name, const char *socket_path = nullptr)
	{
		int rc = rtmem_connect(socket_path, name, &c_);

		if (rc < 0)
			throw error(RTMEM_CALL_CONNECT, rc, "rtmem_connect");
	}
	~client() { rtmem_disconnect(c_); }
	client(const client &) = delete;
	client &operator=(const client &) = delete;
	rtmem_client *get() const noexcept { return c_; }

private:
	rtmem_client *c_ = nullptr;
};

/* An open pool (rtmem_pool_open / rtmem_pool_close). Must not outlive its client. */
class pool {
public:
	pool(client &c, const char *name, unsigned flags = 0)
	{
		int rc = rtmem_pool_open(c.get(), name, flags, &p_);

		if (rc < 0)
			throw error(RTMEM_CALL_POOL_OPEN, rc, std::string("rtmem_pool_open \"") + name + "\"");
	}
	~pool() { rtmem_pool_close(p_); }
	pool(const pool &) = delete;
	pool &operator=(const pool &) = delete;
	rtmem_pool *get() const noexcept { return p_; }

private:
	rtmem_pool *p_ = nullptr;
};

namespace detail {
/* rtmem_alloc() for @bytes aligned to @align, or nullptr. A block whose
 * address does not meet @align is freed again (slab classes are aligned as
 * configured, buddy blocks to their size within the area). */
inline void *alloc(rtmem_pool *p, std::size_t bytes, std::size_t align) noexcept
{
	void *ptr = nullptr;

	if (rtmem_alloc(p, bytes ? bytes : 1, &ptr) < 0)
		return nullptr;
	if (reinterpret_cast<std::uintptr_t>(ptr) % align) {
		rtmem_free(p, ptr);
		return nullptr;
	}
	return ptr;
}
} // namespace detail

/* std::pmr::memory_resource over one pool. Equal to another only over the same pool. */
class pool_resource : public std::pmr::memory_resource {
public:
	explicit pool_resource(pool &p) noexcept : p_(p.get()) {}
	explicit pool_resource(rtmem_pool *p) noexcept : p_(p) {}
	rtmem_pool *get() const noexcept { return p_; }

protected:
	void *do_allocate(std::size_t bytes, std::size_t align) override
	{
		void *ptr = detail::alloc(p_, bytes, align);

		if (!ptr)
			throw std::bad_alloc();
		return ptr;
	}
	void do_deallocate(void *ptr, std::size_t, std::size_t) override { rtmem_free(p_, ptr); }
	bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override
	{
		const pool_resource *r = dynamic_cast<const pool_resource *>(&o);

		return r && r->p_ == p_;
	}

private:
	rtmem_pool *p_;
};

/* A standard allocator over one pool, for containers that do not take pmr. */
template <class T> class allocator {
public:
	using value_type = T;

	explicit allocator(pool &p) noexcept : p_(p.get()) {}
	explicit allocator(rtmem_pool *p) noexcept : p_(p) {}
	template <class U> allocator(const allocator<U> &o) noexcept : p_(o.get()) {}
	rtmem_pool *get() const noexcept { return p_; }

	T *allocate(std::size_t n)
	{
		void *ptr;

		if (n > SIZE_MAX / sizeof(T))
			throw std::bad_array_new_length();
		ptr = detail::alloc(p_, n * sizeof(T), alignof(T));
		if (!ptr)
			throw std::bad_alloc();
		return static_cast<T *>(ptr);
	}
	void deallocate(T *ptr, std::size_t) noexcept { rtmem_free(p_, ptr); }

	template <class U> bool operator==(const allocator<U> &o) const noexcept { return p_ == o.get(); }
	template <class U> bool operator!=(const allocator<U> &o) const noexcept { return p_ != o.get(); }

private:
	rtmem_pool *p_;
};

/* librtmem's version at run time. */
inline const char *version() noexcept { return rtmem_version(); }

} // namespace rtmem

#endif /* RTMEM_RTMEM_HPP */
