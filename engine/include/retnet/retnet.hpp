#pragma once
// Everything an application needs to embed retnet-vk.
#include "retnet/device.hpp"
#include "retnet/error.hpp"
#include "retnet/model.hpp"
